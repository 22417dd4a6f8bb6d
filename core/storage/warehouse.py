"""Load raw-lake partitions into the DuckDB warehouse (`raw` schema), idempotently.

Each load replaces whole partitions inside one transaction: delete the days, insert them from the
lake. Running it twice leaves the same rows; re-running after a fixed file replaces what the bad
file produced. DuckDB allows one writer per file, so callers must serialise writers (the Dagster
layer puts every writer in the `warehouse` pool).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import time
from pathlib import Path

import duckdb

from core.collection.contracts import Contract
from core.collection.writing import partition_path
from core.storage.sql import lit, q

LINEAGE_COLUMNS = {"_source_file": "VARCHAR", "_record_number": "BIGINT", "dt": "DATE"}


class LakePartitionMissing(RuntimeError):
    """A day to load has no raw-lake partition yet."""


LOCK_WAIT_SECONDS = 120.0  # how long a writer waits for another process to let go of the file
HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")


class WarehouseLocked(RuntimeError):
    """Another process keeps the warehouse file open, so it cannot be written."""


def connect(
    path: Path, read_only: bool = False, memory_limit: str | None = None, lock_wait: float = LOCK_WAIT_SECONDS
) -> duckdb.DuckDBPyConnection:
    """A connection to the warehouse file. A writer (or a reader while a writer holds it) that finds
    the file locked by another process retries with back-off for `lock_wait` seconds, then raises
    :class:`WarehouseLocked` naming the process that holds it."""
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    config = {"memory_limit": memory_limit, "preserve_insertion_order": False} if memory_limit else {}
    deadline, delay = time.monotonic() + lock_wait, 0.25
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only, config=config)
        except duckdb.IOException as exc:
            holder = HOLDER.search(str(exc))
            if holder is None:
                raise
            if time.monotonic() + delay > deadline:
                raise WarehouseLocked(
                    f"{path} is held by {holder['program']} (PID {holder['pid']}) and was still held after "
                    f"{lock_wait:.0f} s; a process that keeps the warehouse open (a DuckDB client, a notebook) "
                    "blocks the pipeline's writer. Close it; BI tools and analysts read the serving snapshot "
                    "(<serving_dir>/serving.duckdb) instead"
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 8.0)


def ensure_table(con: duckdb.DuckDBPyConnection, contract: Contract, schema: str = "raw") -> None:
    """Create the raw table from the contract, or add columns the contract gained since."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {q(schema)}")
    wanted = {c.name: c.sql_type for c in contract.columns} | LINEAGE_COLUMNS
    table = f"{q(schema)}.{q(contract.source)}"
    existing = {
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
            [schema, contract.source],
        ).fetchall()
    }
    if not existing:
        cols = ", ".join(f"{q(n)} {t}" for n, t in wanted.items())
        con.execute(f"CREATE TABLE {table} ({cols})")
        return
    for name, sql_type in wanted.items():
        if name not in existing:
            con.execute(f"ALTER TABLE {table} ADD COLUMN {q(name)} {sql_type}")


def load_days(
    warehouse_path: Path,
    lake: Path,
    contract: Contract,
    days: list[dt.date],
    schema: str = "raw",
    memory_limit: str = "768MB",
) -> dict[dt.date, int]:
    """Replace the given days of ``raw.<source>`` with the raw-lake partitions. Returns rows per day."""
    files = [partition_path(lake / "raw", contract.source, d) for d in days]
    missing = [d.isoformat() for d, f in zip(days, files) if not f.exists()]
    if missing:
        raise LakePartitionMissing(
            f"raw lake has no {contract.source} partition for {missing[:5]}{' ...' if len(missing) > 5 else ''}: "
            f"materialise lake/{contract.source} for those days first"
        )
    con = connect(warehouse_path, memory_limit=memory_limit)
    try:
        con.execute("BEGIN TRANSACTION")
        ensure_table(con, contract, schema)
        table = f"{q(schema)}.{q(contract.source)}"
        day_list = ", ".join(f"DATE {lit(d.isoformat())}" for d in days)
        con.execute(f"DELETE FROM {table} WHERE dt IN ({day_list})")
        file_list = "[" + ", ".join(lit(f) for f in files) + "]"
        cols = [c.name for c in contract.columns] + list(LINEAGE_COLUMNS)
        select = ", ".join(q(c) for c in cols)
        con.execute(
            f"INSERT INTO {table} ({select}) SELECT {select} FROM read_parquet({file_list}, "
            f"hive_partitioning = true, hive_types = {{'dt': DATE}})"
        )
        counts = dict(con.execute(f"SELECT dt, count(*) FROM {table} WHERE dt IN ({day_list}) GROUP BY dt").fetchall())
        con.execute("COMMIT")
    except Exception:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise
    finally:
        con.close()
    return {d: int(counts.get(d, 0)) for d in days}
