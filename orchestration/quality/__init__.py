"""Layer package: quality."""
