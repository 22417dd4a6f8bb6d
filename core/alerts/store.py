"""The alert store: every failed check, failed run and KPI warning, with its level.

A small SQLite file (default `data/ops/alerts.sqlite`), not the DuckDB warehouse, so writing an
alert never waits for the warehouse writer and readers (the webhook sensor, the dashboard) never
block the pipeline. SQLite serialises concurrent writers itself.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path

from core.quality.config import LEVELS

SCHEMA = """
create table if not exists alerts (
    alert_id integer primary key autoincrement,
    created_at text not null,
    level text not null check (level in ('red', 'yellow', 'blue')),
    asset text,
    check_name text,
    partition text,
    message text not null,
    run_id text
)
"""


@dataclass(frozen=True)
class Alert:
    alert_id: int
    created_at: str
    level: str
    asset: str | None
    check_name: str | None
    partition: str | None
    message: str
    run_id: str | None

    def to_json(self) -> dict:
        return asdict(self)


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=30)
    con.execute(SCHEMA)
    return con


def record_alert(
    path: Path,
    level: str,
    message: str,
    asset: str | None = None,
    check_name: str | None = None,
    partition: str | None = None,
    run_id: str | None = None,
    dedupe: bool = False,
) -> int:
    """Append an alert; returns its id. With dedupe, an identical alert already recorded is reused."""
    if level not in LEVELS:
        raise ValueError(f"alert level {level!r} is not one of {LEVELS}")
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with _connect(path) as con:
        if dedupe:
            row = con.execute(
                "select alert_id from alerts where level = ? and asset is ? and check_name is ? "
                "and partition is ? and message = ?",
                (level, asset, check_name, partition, message),
            ).fetchone()
            if row:
                return int(row[0])
        cur = con.execute(
            "insert into alerts (created_at, level, asset, check_name, partition, message, run_id) "
            "values (?, ?, ?, ?, ?, ?, ?)",
            (now, level, asset, check_name, partition, message, run_id),
        )
        return int(cur.lastrowid)


def list_alerts(path: Path, after_id: int = 0, limit: int = 1000) -> list[Alert]:
    if not path.exists():
        return []
    with _connect(path) as con:
        rows = con.execute(
            "select alert_id, created_at, level, asset, check_name, partition, message, run_id "
            "from alerts where alert_id > ? order by alert_id limit ?",
            (after_id, limit),
        ).fetchall()
    return [Alert(*row) for row in rows]
