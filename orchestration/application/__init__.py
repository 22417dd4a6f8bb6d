"""Layer package: application."""
