"""What the storage checks read from the warehouse and the lake (plain SQL, no Dagster)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd

from core.collection.writing import partition_path
from core.storage.sql import lit, q

SAMPLE_SEED = 7  # the same rows are sampled for the same data, run after run


def table_rows(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> int:
    return int(con.execute(f"select count(*) from {q(schema)}.{q(table)}").fetchone()[0])


def sample(
    con: duckdb.DuckDBPyConnection, schema: str, table: str, rows: int, days: list[dt.date] | None = None
) -> pd.DataFrame:
    """A deterministic reservoir sample of the table (of the given `dt` days only, if any)."""
    where = ""
    if days is not None:
        where = " where dt in (" + ", ".join(f"DATE {lit(d.isoformat())}" for d in days) + ")"
    return con.execute(
        f"select * from {q(schema)}.{q(table)}{where} "
        f"using sample reservoir({int(rows)} rows) repeatable ({SAMPLE_SEED})"
    ).df()


def latest_day(con: duckdb.DuckDBPyConnection, source: str, schema: str = "raw") -> dt.date | None:
    return con.execute(f"select max(dt) from {q(schema)}.{q(source)}").fetchone()[0]


def rows_per_day(
    con: duckdb.DuckDBPyConnection, source: str, first: dt.date, last: dt.date, schema: str = "raw"
) -> pd.Series:
    """Rows of each day in [first, last], days without rows as 0."""
    counts = dict(
        con.execute(
            f"select dt, count(*) from {q(schema)}.{q(source)} where dt between ? and ? group by dt", [first, last]
        ).fetchall()
    )
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    return pd.Series({d: counts.get(d, 0) for d in days}, dtype=float)


def lake_values(lake: Path, table: str, column: str, days: list[dt.date]) -> list:
    """Distinct values of `column` in the raw-lake partitions of `table` for the given days."""
    files = [str(f) for f in (partition_path(lake / "raw", table, d) for d in days) if f.exists()]
    if not files:
        return []
    return [r[0] for r in duckdb.sql(f"select distinct {q(column)} from read_parquet({files})").fetchall()]
