"""Writing the lake: where a day's partition lives, and replacing it atomically."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from pathlib import Path

import duckdb

from core.storage.sql import lit


def atomic_copy(con: duckdb.DuckDBPyConnection, query: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{uuid.uuid4().hex}.tmp"
    try:
        con.execute(f"COPY ({query}) TO {lit(tmp)} (FORMAT parquet, COMPRESSION zstd)")
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def partition_path(root: Path, source: str, day: dt.date) -> Path:
    return root / source / f"dt={day.isoformat()}" / "part-0.parquet"
