"""The storage layer on Spark: the raw lake and the reference data as tables of the Spark catalogue.

The collection layer already writes the raw lake as Hive-style partitions
(``lake/raw/<source>/dt=YYYY-MM-DD/part-0.parquet``), so on Spark the raw layer is not loaded
anywhere: each source is an external Parquet table over its directory, its columns declared from
the source's contract (the same names and types as the DuckDB warehouse's `raw.<source>`, so the
models see one schema on both engines, also for a source with no partition yet), and its
partitions registered from the directories. Dropping such a table never touches the files.

Written by hand, not with the dbt-external-tables package: that needs `dbt deps` from dbt's package
hub, and the declared schema has to come from the contracts, which only the platform reads.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from core.collection.contracts import Contract
from core.storage.sql import lit
from core.storage.targets import COLUMNS as KPI_TARGET_COLUMNS
from core.storage.warehouse import LINEAGE_COLUMNS

# DuckDB's types of the contracts and the warehouse → Spark SQL's. The lake's timestamps are naive
# (Parquet isAdjustedToUTC=false), which is Spark's TIMESTAMP_NTZ.
_TYPES = {
    "VARCHAR": "STRING",
    "TIMESTAMP": "TIMESTAMP_NTZ",
    "BIGINT": "BIGINT",
    "INTEGER": "INT",
    "DOUBLE": "DOUBLE",
    "BOOLEAN": "BOOLEAN",
    "DATE": "DATE",
}


def spark_type(sql_type: str) -> str:
    upper = sql_type.strip().upper()
    if upper.startswith("DECIMAL"):
        return upper.replace(" ", "")
    try:
        return _TYPES[upper]
    except KeyError:
        raise ValueError(
            f"no Spark type for the contract type {sql_type!r}; known: DECIMAL(p,s), {sorted(_TYPES)}"
        ) from None


def _name(identifier: str) -> str:
    return "`" + identifier.replace("`", "``") + "`"


def raw_columns(contract: Contract) -> dict[str, str]:
    """The raw table's columns and their Spark types, the partition column `dt` last."""
    data_columns = {c.name: c.sql_type for c in contract.columns} | {
        k: v for k, v in LINEAGE_COLUMNS.items() if k != "dt"
    }
    return {n: spark_type(t) for n, t in data_columns.items()} | {"dt": "DATE"}


def _location(contract: Contract, lake_dir: Path) -> Path:
    return (lake_dir / "raw" / contract.source).resolve()


def hadoop_location(path: Path) -> str:
    """A local path as Spark (Hadoop) reads a location: `file:` and the path as it is. Not
    Path.as_uri(), whose percent-escapes Hadoop keeps literally (`dt%3D2026-01-31` is a directory
    no writer made, so the partition would read as empty)."""
    return "file:" + os.fspath(path)


def raw_table_sql(contract: Contract, lake_dir: Path, schema: str = "raw") -> list[str]:
    """Statements that (re)declare `<schema>.<source>` over its lake directory and register its days."""
    table = f"{_name(schema)}.{_name(contract.source)}"
    columns = ", ".join(f"{_name(n)} {t}" for n, t in raw_columns(contract).items() if n != "dt")
    location = _location(contract, lake_dir)
    return [
        f"DROP TABLE IF EXISTS {table}",  # external: its files stay
        f"CREATE TABLE {table} ({columns}, `dt` DATE) USING parquet PARTITIONED BY (`dt`) "
        f"LOCATION {lit(hadoop_location(location))}",
        f"ALTER TABLE {table} RECOVER PARTITIONS",
    ]


def kpi_targets_sql(rows: Sequence[dict], schema: str = "reference") -> list[str]:
    """Statements that replace `reference.kpi_targets` with the rows (empty without any)."""
    table = f"{_name(schema)}.`kpi_targets`"
    columns = ", ".join(f"{_name(c)} {spark_type(t)}" for c, t in KPI_TARGET_COLUMNS.items())
    statements = [
        f"CREATE DATABASE IF NOT EXISTS {_name(schema)}",
        f"DROP TABLE IF EXISTS {table}",
        f"CREATE TABLE {table} ({columns}) USING parquet",
    ]
    if rows:

        def value(column: str, v: object) -> str:
            if v is None:
                return f"CAST(NULL AS {spark_type(KPI_TARGET_COLUMNS[column])})"
            return repr(float(v)) if KPI_TARGET_COLUMNS[column] == "DOUBLE" else lit(str(v))

        values = ", ".join("(" + ", ".join(value(c, r[c]) for c in KPI_TARGET_COLUMNS) + ")" for r in rows)
        statements.append(f"INSERT INTO {table} VALUES {values}")
    return statements


@contextlib.contextmanager
def connect(host: str, port: int) -> Iterator:
    """A cursor on the Spark Thrift server (PyHive, the same protocol dbt-spark's thrift method speaks)."""
    from pyhive import hive

    conn = hive.connect(host=host, port=port, username="dmp", auth="NONE")
    try:
        cursor = conn.cursor()
        try:
            yield cursor
        finally:
            cursor.close()
    finally:
        conn.close()


def execute(cursor, statements: Iterable[str]) -> None:
    for statement in statements:
        cursor.execute(statement)


def declared_columns(cursor, table: str) -> dict[str, str] | None:
    """Columns and types (lower case) of a Spark table, partition columns included; None when absent."""
    schema, name = table.split(".")
    cursor.execute(f"SHOW TABLES IN {_name(schema)} LIKE {lit(name)}")
    if not cursor.fetchall():
        return None
    cursor.execute(f"DESCRIBE TABLE {_name(schema)}.{_name(name)}")
    columns: dict[str, str] = {}
    for col_name, data_type, *_ in cursor.fetchall():
        if not col_name or col_name.startswith("#"):
            break  # "# Partition Information" repeats the partition columns
        columns[col_name.lower()] = (data_type or "").lower()
    return columns


def declare_raw_days(cursor, contract: Contract, lake_dir: Path, days: Sequence[dt.date], schema: str = "raw") -> bool:
    """Make `<schema>.<source>` on Spark show the lake's partitions of `days` (as the DuckDB load
    does for the warehouse). The table is declared again (all partitions recovered) when it is
    missing or its columns differ from the contract's; else only the days are added. Returns
    whether the table was declared again."""
    execute(cursor, [f"CREATE DATABASE IF NOT EXISTS {_name(schema)}"])
    table = f"{_name(schema)}.{_name(contract.source)}"
    wanted = {n.lower(): t.lower() for n, t in raw_columns(contract).items()}
    if declared_columns(cursor, f"{schema}.{contract.source}") != wanted:
        execute(cursor, raw_table_sql(contract, lake_dir, schema))
        return True
    location = _location(contract, lake_dir)
    present = [d for d in days if (location / f"dt={d.isoformat()}").is_dir()]
    for chunk in range(0, len(present), 200):
        parts = " ".join(
            f"PARTITION (`dt` = DATE {lit(d.isoformat())}) LOCATION {lit(hadoop_location(location / f'dt={d.isoformat()}'))}"
            for d in present[chunk : chunk + 200]
        )
        cursor.execute(f"ALTER TABLE {table} ADD IF NOT EXISTS {parts}")
    cursor.execute(f"REFRESH TABLE {table}")  # a day's files replaced since: no stale file listing
    return False


def register_lake(
    cursor, contracts: Iterable[Contract], lake_dir: Path, kpi_targets: Sequence[dict] = (), schema: str = "raw"
) -> dict[str, int]:
    """Declare every source's raw table and the reference data; return the partitions each table has."""
    execute(cursor, [f"CREATE DATABASE IF NOT EXISTS {_name(schema)}"])
    days = {}
    for contract in contracts:
        execute(cursor, raw_table_sql(contract, lake_dir, schema))
        cursor.execute(f"SHOW PARTITIONS {_name(schema)}.{_name(contract.source)}")
        days[contract.source] = len(cursor.fetchall())
    execute(cursor, kpi_targets_sql(kpi_targets))
    return days
