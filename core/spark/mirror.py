"""Spark's built tables, copied into the DuckDB warehouse file.

On the Spark engine the models run on Spark and write Parquet tables under Spark's warehouse
directory. The application layer (features, model training, the serving snapshot the API and the
dashboard read) keeps reading the DuckDB warehouse, so after every dbt invocation each table it
built is copied from its Parquet files into the same `<schema>.<table>` of the DuckDB file: one
DuckDB statement per table, reading the files directly (nothing crosses the Thrift connection but
the table's description). Spark stores a partitioned table's partition columns last and in the
directory names (`day=2026-01-31`); the copy restores the types Spark declares and, for a model
with an enforced contract, the contract's column order (the order DuckDB builds it in).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import duckdb

from core.storage.sql import lit, q

HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"  # Spark's directory name for a null partition value

_SIMPLE = {
    "string": "VARCHAR",
    "bigint": "BIGINT",
    "int": "INTEGER",
    "smallint": "SMALLINT",
    "tinyint": "TINYINT",
    "double": "DOUBLE",
    "float": "FLOAT",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp_ntz": "TIMESTAMP",
    "timestamp": "TIMESTAMPTZ",
}


def duckdb_type(spark_type: str) -> str:
    t = spark_type.strip().lower()
    if t in _SIMPLE:
        return _SIMPLE[t]
    if re.fullmatch(r"decimal\(\d+,\s*\d+\)", t):
        return t.upper().replace(" ", "")
    if t.startswith(("varchar", "char")):
        return "VARCHAR"
    raise ValueError(f"no DuckDB type for the Spark type {spark_type!r}")


@dataclass(frozen=True)
class SparkTable:
    schema: str
    name: str
    columns: dict[str, str]  # name -> Spark type, in Spark's order (partition columns last)
    partition_columns: tuple[str, ...]
    location: Path | None  # None for a view


def describe(cursor, schema: str, name: str) -> SparkTable:
    """A Spark table's columns, partition columns and the directory of its files."""
    cursor.execute(f"DESCRIBE TABLE EXTENDED {q_spark(schema)}.{q_spark(name)}")
    columns: dict[str, str] = {}
    partitions: list[str] = []
    section = "columns"
    location = None
    kind = ""
    for col_name, data_type, *_ in cursor.fetchall():
        col_name = (col_name or "").strip()
        if col_name == "# Partition Information":
            section = "partitions"
        elif col_name == "# Detailed Table Information":
            section = "details"
        elif not col_name or col_name.startswith("#"):
            continue
        elif section == "columns":
            columns[col_name] = data_type
        elif section == "partitions":
            partitions.append(col_name)
        elif col_name == "Location":
            location = data_type
        elif col_name == "Type":
            kind = (data_type or "").upper()
    path = None
    if location and kind != "VIEW":
        parsed = urlparse(location)
        path = Path(unquote(parsed.path)) if parsed.scheme in ("", "file") else None
        if path is None:
            raise ValueError(f"{schema}.{name} lives at {location}: only a local warehouse can be copied into DuckDB")
    return SparkTable(schema, name, columns, tuple(partitions), path)


def q_spark(identifier: str) -> str:
    return "`" + identifier.replace("`", "``") + "`"


def copy_sql(table: SparkTable, order: Sequence[str] | None = None) -> str:
    """The DuckDB statement that replaces `<schema>.<name>` with the Spark table's rows."""
    names = list(table.columns)
    if order and set(order) == set(names):
        names = list(order)
    target = f"{q(table.schema)}.{q(table.name)}"
    assert table.location is not None
    files = sorted(table.location.rglob("*.parquet"))
    if not files:
        cols = ", ".join(f"{q(n)} {duckdb_type(table.columns[n])}" for n in names)
        return f"CREATE OR REPLACE TABLE {target} ({cols})"

    def expression(name: str) -> str:
        wanted = duckdb_type(table.columns[name])
        if name in table.partition_columns:  # read from the directory name as text
            return f"CAST(NULLIF({q(name)}, {lit(HIVE_NULL)}) AS {wanted}) AS {q(name)}"
        return f"CAST({q(name)} AS {wanted}) AS {q(name)}"

    select = ", ".join(expression(n) for n in names)
    glob = lit(str(table.location / ("**/*.parquet" if table.partition_columns else "*.parquet")))
    return (
        f"CREATE OR REPLACE TABLE {target} AS SELECT {select} FROM read_parquet({glob}, "
        f"hive_partitioning = {'true' if table.partition_columns else 'false'}, hive_types_autocast = false)"
    )


def mirror(
    cursor, con: duckdb.DuckDBPyConnection, relations: Iterable[tuple[str, str]], orders: dict | None = None
) -> dict[tuple[str, str], int]:
    """Copy each Spark table into the DuckDB connection's warehouse (views are skipped: DuckDB keeps
    its own). Returns the rows copied per table."""
    copied = {}
    for schema, name in relations:
        table = describe(cursor, schema, name)
        if table.location is None:
            continue
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {q(schema)}")
        con.execute(copy_sql(table, (orders or {}).get((schema, name))))
        copied[(schema, name)] = con.execute(f"SELECT count(*) FROM {q(schema)}.{q(name)}").fetchone()[0]
    return copied
