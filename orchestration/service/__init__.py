"""Layer package: service."""
