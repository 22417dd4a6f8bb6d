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


def raw_table_sql(contract: Contract, lake_dir: Path, schema: str = "raw") -> list[str]:
    """Statements that (re)declare `<schema>.<source>` over its lake directory and register its days."""
    table = f"{_name(schema)}.{_name(contract.source)}"
    data_columns = {c.name: c.sql_type for c in contract.columns} | {
        k: v for k, v in LINEAGE_COLUMNS.items() if k != "dt"
    }
    columns = ", ".join(f"{_name(n)} {spark_type(t)}" for n, t in data_columns.items())
    location = (lake_dir / "raw" / contract.source).resolve()
    return [
        f"DROP TABLE IF EXISTS {table}",  # external: its files stay
        f"CREATE TABLE {table} ({columns}, `dt` DATE) USING parquet PARTITIONED BY (`dt`) "
        f"LOCATION {lit(location.as_uri())}",
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
