"""Publish the serving snapshot: a consistent, read-only copy of what BI tools and the API read.

The warehouse has one writer, and a DuckDB file that a writer holds cannot be opened read-only by
another process, so consumers never read it. Instead every publish copies, in one read
transaction of the warehouse, every table of `marts` and `application`, `reference.kpi_targets`
and the alerts table (SQLite) into a NEW DuckDB file next to the target, then swaps it in with
`os.replace`. A reader that has the old file open keeps its inode and finishes undisturbed; the
next open sees the new file. The file is written in the storage format of DuckDB 1.0
(`SNAPSHOT_STORAGE_VERSION`), so clients on older DuckDB releases than the platform's can open
it. Each table is also written as one Parquet file (`parquet/<schema>__<table>.parquet`, each
replaced atomically), and `manifest.json` says what was published when.

Personal data never leaves the warehouse: columns named like e-mail or phone are not copied, and
every text column of the new file is scanned for e-mail addresses and phone numbers before it is
published; a hit refuses the publish (the previous snapshot stays).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sqlite3
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from core.storage.sql import lit, q

SERVED_SCHEMAS = ("marts", "application")
REFERENCE_TABLES = (("reference", "kpi_targets"),)
ALERTS_TABLE = ("ops", "alerts")
META_SCHEMA = "meta"  # meta.snapshot and meta.tables: what this file is, read by the API's /health
SNAPSHOT_FILE = "serving.duckdb"
MANIFEST_FILE = "manifest.json"
PARQUET_DIR = "parquet"
# Model charts beside the snapshot: <serving_dir>/charts/<model>/<version>/<chart>.png, each part a plain name
# (written by the model assets, served by the API's /charts route).
CHARTS_DIR = "charts"
CHART_NAME = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"
# The file is written in DuckDB's storage format of release 1.0 (storage version 64), which every
# DuckDB from 0.10 on opens: the releases BI tools bundle (DBeaver's JDBC driver, Evidence's and
# Superset's duckdb-engine) lag the newest DuckDB, whose own default format only it can read.
SNAPSHOT_STORAGE_VERSION = "v1.0.0"

# Column names that suggest personal contact data: never copied, whatever they hold.
PII_COLUMN_NAME = re.compile(r"(^|_)(e_?mail|phone|mobile|telephone|tel|msisdn)(_|$)", re.IGNORECASE)
# Values that are e-mail addresses or phone numbers (RE2 syntax, so DuckDB evaluates them in SQL).
EMAIL_PATTERN = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
PHONE_PATTERN = r"\+\d{1,3}[ -]?\(?\d{2,4}\)?[ -]?\d{3,4}[ -]?\d{3,5}|\b1[3-9]\d{9}\b"

ALERT_COLUMNS = {
    "alert_id": "BIGINT",
    "created_at": "TIMESTAMP",
    "level": "VARCHAR",
    "asset": "VARCHAR",
    "check_name": "VARCHAR",
    "partition": "VARCHAR",
    "message": "VARCHAR",
    "run_id": "VARCHAR",
}


class PersonalDataFound(RuntimeError):
    """A column about to be published holds e-mail addresses or phone numbers."""


@dataclass(frozen=True)
class Snapshot:
    """What one publish wrote."""

    path: Path
    published_at: dt.datetime
    source_warehouse: Path
    tables: dict[str, int]  # "<schema>.<table>" -> rows
    parquet: dict[str, Path]
    manifest: Path
    excluded_columns: list[str] = field(default_factory=list)


def parquet_name(schema: str, table: str) -> str:
    return f"{schema}__{table}.parquet"


def _source_tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """The warehouse relations to publish (attached as `wh`), in a stable order."""
    rows = con.execute(
        "select table_schema, table_name from information_schema.tables where table_catalog = 'wh' "
        f"and table_schema in ({', '.join('?' for _ in SERVED_SCHEMAS)}) order by 1, 2",
        list(SERVED_SCHEMAS),
    ).fetchall()
    present = {
        (s, t)
        for s, t in con.execute(
            "select table_schema, table_name from information_schema.tables where table_catalog = 'wh'"
        ).fetchall()
    }
    return [(s, t) for s, t in rows] + [ref for ref in REFERENCE_TABLES if ref in present]


def _copy_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    """Copy wh.<schema>.<table> without PII-named columns; returns the columns left out.

    Rows are stored in the order of the table's first date column (its day or month, for the
    marts), so DuckDB's per-block min/max skips most of a large table on a date-range query."""
    columns = con.execute(
        "select column_name, data_type from information_schema.columns where table_catalog = 'wh' "
        "and table_schema = ? and table_name = ? order by ordinal_position",
        [schema, table],
    ).fetchall()
    keep = [c for c, _ in columns if not PII_COLUMN_NAME.search(c)]
    if not keep:
        raise PersonalDataFound(f"every column of {schema}.{table} looks like contact data; nothing to publish")
    dates = [c for c, t in columns if t == "DATE" and c in keep]
    order = f" order by {q(dates[0])}" if dates else ""
    con.execute(f"create schema if not exists {q(schema)}")
    con.execute(
        f"create table {q(schema)}.{q(table)} as select {', '.join(q(c) for c in keep)} "
        f"from wh.{q(schema)}.{q(table)}{order}"
    )
    return [f"{schema}.{table}.{c}" for c, _ in columns if c not in keep]


def _read_alerts(alerts_path: Path | None) -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="object") for c in ALERT_COLUMNS})
    if alerts_path is None or not Path(alerts_path).exists():
        return frame
    with sqlite3.connect(f"file:{Path(alerts_path)}?mode=ro", uri=True, timeout=30) as lite:
        try:
            rows = lite.execute(f"select {', '.join(ALERT_COLUMNS)} from alerts order by alert_id").fetchall()
        except sqlite3.OperationalError as exc:  # a fresh file without the table yet
            if "no such table" not in str(exc):
                raise
            rows = []
    if rows:
        frame = pd.DataFrame(rows, columns=list(ALERT_COLUMNS), dtype="object")
        created = pd.to_datetime(frame["created_at"], utc=True, errors="coerce", format="ISO8601")
        frame["created_at"] = created.dt.tz_localize(None)
    return frame


def _copy_alerts(con: duckdb.DuckDBPyConnection, alerts_path: Path | None) -> None:
    schema, table = ALERTS_TABLE
    alerts = _read_alerts(alerts_path)
    con.execute(f"create schema if not exists {q(schema)}")
    cols = ", ".join(f"{q(c)} {t}" for c, t in ALERT_COLUMNS.items())
    con.execute(f"create table {q(schema)}.{q(table)} ({cols})")
    if len(alerts):
        con.register("alerts_frame", alerts)
        select = ", ".join(f"cast({q(c)} as {t})" for c, t in ALERT_COLUMNS.items())
        con.execute(f"insert into {q(schema)}.{q(table)} select {select} from alerts_frame")
        con.unregister("alerts_frame")


def assert_no_personal_data(con: duckdb.DuckDBPyConnection, tables: list[tuple[str, str]]) -> None:
    """Raise PersonalDataFound if any text column of the given tables holds an e-mail or phone number."""
    for schema, table in tables:
        text_columns = [
            c
            for (c,) in con.execute(
                "select column_name from information_schema.columns where table_catalog = current_database() "
                "and table_schema = ? and table_name = ? and data_type = 'VARCHAR' order by ordinal_position",
                [schema, table],
            ).fetchall()
        ]
        if not text_columns:
            continue
        probes = ", ".join(
            f"count(*) filter (where regexp_matches({q(c)}, $email) or regexp_matches({q(c)}, $phone))"
            for c in text_columns
        )
        hits = con.execute(
            f"select {probes} from {q(schema)}.{q(table)}", {"email": EMAIL_PATTERN, "phone": PHONE_PATTERN}
        ).fetchone()
        bad = [f"{schema}.{table}.{c} ({n} values)" for c, n in zip(text_columns, hits) if n]
        if bad:
            raise PersonalDataFound(
                f"refusing to publish: e-mail addresses or phone numbers in {', '.join(bad)}; "
                "hash or drop them in the dbt model (staging) before they reach a served table"
            )


def _write_meta(
    con: duckdb.DuckDBPyConnection, published_at: dt.datetime, source: Path, tables: dict[str, int]
) -> None:
    con.execute(f"create schema {META_SCHEMA}")
    con.execute(
        f"create table {META_SCHEMA}.snapshot (published_at timestamp, source_warehouse varchar, tables integer)"
    )
    con.execute(
        f"insert into {META_SCHEMA}.snapshot values (?, ?, ?)",
        [published_at.replace(tzinfo=None), str(source), len(tables)],
    )
    con.execute(f"create table {META_SCHEMA}.tables (table_schema varchar, table_name varchar, row_count bigint)")
    for name, rows in tables.items():
        schema, table = name.split(".", 1)
        con.execute(f"insert into {META_SCHEMA}.tables values (?, ?, ?)", [schema, table, rows])


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish_snapshot(
    warehouse_path: Path, serving_dir: Path, alerts_path: Path | None = None, now: dt.datetime | None = None
) -> Snapshot:
    """Copy the served tables into a new DuckDB file and swap it in atomically; write Parquet and a manifest."""
    warehouse_path, serving_dir = Path(warehouse_path), Path(serving_dir)
    if not warehouse_path.exists():
        raise FileNotFoundError(f"warehouse {warehouse_path} does not exist: materialise the marts first")
    published_at = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    parquet_dir = serving_dir / PARQUET_DIR
    parquet_dir.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:12]
    staging = serving_dir / f".{SNAPSHOT_FILE}.{token}.tmp"
    staged_parquet: dict[str, tuple[Path, Path]] = {}
    try:
        con = duckdb.connect(str(staging), config={"storage_compatibility_version": SNAPSHOT_STORAGE_VERSION})
        try:
            con.execute(f"attach {lit(warehouse_path)} as wh (read_only)")
            con.execute("begin transaction")
            sources = _source_tables(con)
            excluded = [c for schema, table in sources for c in _copy_table(con, schema, table)]
            con.execute("commit")
            con.execute("detach wh")
            _copy_alerts(con, alerts_path)
            served = [*sources, ALERTS_TABLE]
            assert_no_personal_data(con, served)
            tables = {
                f"{s}.{t}": int(con.execute(f"select count(*) from {q(s)}.{q(t)}").fetchone()[0]) for s, t in served
            }
            _write_meta(con, published_at, warehouse_path, tables)
            con.execute("checkpoint")
            for schema, table in served:
                final = parquet_dir / parquet_name(schema, table)
                tmp = parquet_dir / f".{final.name}.{token}.tmp"
                con.execute(
                    f"copy (select * from {q(schema)}.{q(table)}) to {lit(tmp)} (format parquet, compression zstd)"
                )
                staged_parquet[f"{schema}.{table}"] = (tmp, final)
        finally:
            con.close()
        _fsync(staging)
        target = serving_dir / SNAPSHOT_FILE
        os.replace(staging, target)
        for tmp, final in staged_parquet.values():
            os.replace(tmp, final)
        served_names = {final.name for _, final in staged_parquet.values()}
        for stale in parquet_dir.glob("*__*.parquet"):
            if stale.name not in served_names:
                stale.unlink(missing_ok=True)
        manifest = _write_manifest(serving_dir, published_at, warehouse_path, target, tables, excluded)
    except BaseException:
        staging.unlink(missing_ok=True)
        for tmp, _ in staged_parquet.values():
            tmp.unlink(missing_ok=True)
        raise
    return Snapshot(
        path=target,
        published_at=published_at,
        source_warehouse=warehouse_path,
        tables=tables,
        parquet={name: final for name, (_, final) in staged_parquet.items()},
        manifest=manifest,
        excluded_columns=excluded,
    )


def _write_manifest(
    serving_dir: Path,
    published_at: dt.datetime,
    source: Path,
    snapshot: Path,
    tables: dict[str, int],
    excluded: list[str],
) -> Path:
    body = {
        "published_at": published_at.isoformat(timespec="seconds"),
        "source_warehouse": str(source),
        "snapshot": str(snapshot),
        "duckdb_storage_version": SNAPSHOT_STORAGE_VERSION,
        "tables": {
            name: {"rows": rows, "parquet": f"{PARQUET_DIR}/{parquet_name(*name.split('.', 1))}"}
            for name, rows in tables.items()
        },
        "excluded_columns": excluded,
    }
    final = serving_dir / MANIFEST_FILE
    tmp = serving_dir / f".{MANIFEST_FILE}.{uuid.uuid4().hex[:12]}.tmp"
    tmp.write_text(json.dumps(body, indent=2) + "\n")
    os.replace(tmp, final)
    return final


def read_manifest(serving_dir: Path) -> dict:
    """The manifest of the last publish (empty if nothing was published yet)."""
    path = Path(serving_dir) / MANIFEST_FILE
    return json.loads(path.read_text()) if path.exists() else {}
