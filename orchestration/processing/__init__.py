"""Layer package: processing."""
