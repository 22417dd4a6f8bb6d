"""Writing the lake: where a day's partition lives, and replacing it atomically."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import uuid
from pathlib import Path

import duckdb

from core.processes import process_alive
from core.storage.sql import lit


def remove_abandoned(target: Path) -> list[Path]:
    """Temporary files a killed writer left beside `target` (their writer's process is gone).

    A writer names its temporary file `.<name>.<pid>.<random>.tmp`, so a file whose process
    still runs (another run writing the same partition now) is left alone."""
    removed = []
    for tmp in target.parent.glob(f".{target.name}.*.tmp"):
        parts = tmp.name[len(target.name) + 2 : -len(".tmp")].split(".")
        if parts and parts[0].isdigit() and not process_alive(int(parts[0])):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


@contextlib.contextmanager
def _replacing(target: Path):
    """A temporary path beside `target` to write; on success it replaces `target` in one rename, so
    readers see the old file or the new one, never a part. Named `.<name>.<pid>.<random>.tmp`, so
    a later writer can tell a killed writer's leftover (see remove_abandoned) from a live one's."""
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned(target)
    tmp = target.parent / f".{target.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_copy(con: duckdb.DuckDBPyConnection, query: str, target: Path) -> None:
    """Write the query's rows to `target` atomically (Parquet, zstd)."""
    with _replacing(target) as tmp:
        con.execute(f"COPY ({query}) TO {lit(tmp)} (FORMAT parquet, COMPRESSION zstd)")


def atomic_write_bytes(data: bytes, target: Path) -> None:
    """Replace `target` with `data` atomically."""
    with _replacing(target) as tmp:
        tmp.write_bytes(data)


def same_bytes(path: Path, data: bytes) -> bool:
    """Whether the file holds exactly `data` (the size is compared first)."""
    return path.exists() and path.stat().st_size == len(data) and path.read_bytes() == data


def partition_path(root: Path, source: str, day: dt.date) -> Path:
    return root / source / f"dt={day.isoformat()}" / "part-0.parquet"
