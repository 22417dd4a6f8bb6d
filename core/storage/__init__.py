"""Layer 2, storage: the DuckDB warehouse loader and the SQL-quoting helpers."""
