"""Read-only access to the serving snapshot that follows each publish without a restart.

A publish replaces the snapshot file with `os.replace`, so a new file (a new inode) appears at
the same path. Each request stats the path; when the file's identity (inode, mtime, size) has
changed, the next request opens the new file and later requests use it, while requests already
running on the old one finish on it (an open file keeps its inode). The old database is closed
when its last request is done.

Each generation is its own in-memory DuckDB database with the snapshot ATTACHed read-only:
`duckdb.connect(path)` would hand back the process's cached database for that path, which is the
OLD file while any request still holds it.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

CATALOG = "snapshot"


class SnapshotMissing(RuntimeError):
    """No serving snapshot has been published at the path yet."""


class _Generation:
    def __init__(self, path: Path, identity: tuple[int, int, int]):
        self.identity = identity
        self.con = duckdb.connect(":memory:", config={"threads": "2"})
        escaped = str(path).replace("'", "''")
        self.con.execute(f"attach '{escaped}' as {CATALOG} (read_only)")
        try:
            row = self.con.execute(f"select published_at from {CATALOG}.meta.snapshot").fetchone()
        except duckdb.CatalogException:  # a file not written by core.service.snapshot
            row = None
        # published_at is stored in UTC without a zone; hand it out as an aware UTC time
        self.published_at = row[0].replace(tzinfo=dt.UTC) if row and row[0] else None
        self.users = 0
        self.retired = False

    def close(self) -> None:
        self.con.close()


class SnapshotReader:
    """Hands out read-only cursors on the current snapshot; reopens it after a publish."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._current: _Generation | None = None
        self.reopened = 0  # how many times a new snapshot was picked up (for /health and tests)

    def _identity(self) -> tuple[int, int, int]:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise SnapshotMissing(
                f"no serving snapshot at {self.path}: materialise service/serving_snapshot "
                "(make run) or point the API at a published snapshot"
            ) from None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def _acquire(self) -> _Generation:
        identity = self._identity()
        with self._lock:
            current = self._current
            if current is None or current.identity != identity:
                fresh = _Generation(self.path, identity)
                if current is not None:
                    current.retired = True
                    if current.users == 0:
                        current.close()
                    self.reopened += 1
                self._current = current = fresh
            current.users += 1
            return current

    def _release(self, generation: _Generation) -> None:
        with self._lock:
            generation.users -= 1
            if generation.retired and generation.users == 0:
                generation.close()

    @contextmanager
    def lease(self) -> Iterator[tuple[duckdb.DuckDBPyConnection, dt.datetime | None]]:
        """(cursor, published_at): a cursor of its own (for this thread) on one snapshot, for one request."""
        generation = self._acquire()
        try:
            cur = generation.con.cursor()
            try:
                cur.execute(f"use {CATALOG}")
                yield cur, generation.published_at
            finally:
                cur.close()
        finally:
            self._release(generation)

    def close(self) -> None:
        with self._lock:
            if self._current is not None:
                self._current.retired = True
                if self._current.users == 0:
                    self._current.close()
                self._current = None
