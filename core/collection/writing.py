"""Writing the lake: where a day's partition lives, and replacing it atomically."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
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


STAGED_PREFIX = ".staging."


def remove_abandoned_staging(folder: Path) -> list[Path]:
    """Staging directories a killed partitioned writer left in `folder` (named
    `.staging.<pid>.<random>.tmp`, see staging_directory); a live writer's are left alone."""
    removed = []
    for tmp in folder.glob(f"{STAGED_PREFIX}*.tmp") if folder.is_dir() else []:
        pid = tmp.name[len(STAGED_PREFIX) :].split(".")[0]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)
            removed.append(tmp)
    return removed


@contextlib.contextmanager
def staging_directory(folder: Path):
    """A fresh directory inside `folder` (so its files can be renamed into `folder`'s partitions),
    removed afterwards with whatever is left in it. Its name ends in `.tmp`, and so do the files
    copy_partitioned writes, so no reader globbing for Parquet partitions sees a staged file."""
    folder.mkdir(parents=True, exist_ok=True)
    remove_abandoned_staging(folder)
    tmp = folder / f"{STAGED_PREFIX}{os.getpid()}.{uuid.uuid4().hex}.tmp"
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def copy_partitioned(con: duckdb.DuckDBPyConnection, query: str, column: str, directory: Path) -> dict[int, Path]:
    """Write the query's rows, split by its integer column `column` (not written), in one COPY:
    one zstd Parquet file per value under `directory` (which must not exist yet), each file's rows
    in the query's order. Returns the file of every value that has rows.

    DuckDB keeps the query's order within a partition only when one thread writes, so the
    statement runs on one thread (the connection's setting is restored afterwards)."""
    threads = con.execute("select current_setting('threads')").fetchone()[0]
    con.execute("SET threads = 1")
    try:
        con.execute(
            f"COPY ({query}) TO {lit(directory)} (FORMAT parquet, COMPRESSION zstd, "
            f"PARTITION_BY ({column}), FILE_EXTENSION 'tmp')"
        )
    finally:
        con.execute(f"SET threads = {int(threads)}")
    files: dict[int, Path] = {}
    for part in directory.iterdir() if directory.exists() else []:
        value = int(part.name.split("=", 1)[1])
        written = list(part.iterdir())
        if len(written) != 1:
            raise RuntimeError(f"a partitioned COPY wrote {len(written)} files for {part} (one expected)")
        files[value] = written[0]
    return files


def replace_with(staged: Path, target: Path) -> None:
    """Move a staged file onto `target` in one rename (readers see the old file or the new one)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned(target)
    os.replace(staged, target)


def atomic_write_bytes(data: bytes, target: Path) -> None:
    """Replace `target` with `data` atomically."""
    with _replacing(target) as tmp:
        tmp.write_bytes(data)


def same_bytes(path: Path, data: bytes) -> bool:
    """Whether the file holds exactly `data` (the size is compared first)."""
    return path.exists() and path.stat().st_size == len(data) and path.read_bytes() == data


def partition_path(root: Path, source: str, day: dt.date) -> Path:
    return root / source / f"dt={day.isoformat()}" / "part-0.parquet"
