"""SQL-quoting helpers: the one place identifiers and literals are quoted for DuckDB statements
that take no parameters (DDL, COPY, ATTACH, read_csv/read_parquet arguments)."""

from __future__ import annotations


def q(identifier: str) -> str:
    """A quoted SQL identifier."""
    return '"' + identifier.replace('"', '""') + '"'


def lit(value: object) -> str:
    """A quoted SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"
