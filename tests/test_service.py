"""The serving snapshot: the asset in the daily job, a faithful copy of the served tables, Parquet and
manifest, no personal data, atomic swaps that leave a long reader undisturbed."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from core.service.snapshot import PersonalDataFound, publish_snapshot, read_manifest
from core.settings import Settings
from orchestration.definitions import PLATFORM_JOB, build_definitions
from orchestration.service.snapshot import SNAPSHOT_KEY, mart_keys

EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
PHONE = re.compile(r"\+\d{1,3}[\s-]?\d{8,12}\b|\b1[3-9]\d{9}\b")


def attach(con: duckdb.DuckDBPyConnection, path, name: str) -> None:
    con.execute(f"attach '{path}' as {name} (read_only)")


@dataclass
class Served:
    warehouse_path: Path
    alerts_path: Path
    serving_dir: Path

    @property
    def serving_path(self) -> Path:
        return self.serving_dir / "serving.duckdb"


@pytest.fixture(scope="module")
def served(platform, tmp_path_factory) -> Served:
    """A snapshot published now from the platform's warehouse (later jobs may have added tables since the
    daily run's own publish), into a directory of this module's."""
    settings = platform.settings
    serving = tmp_path_factory.mktemp("service") / "serving"
    publish_snapshot(settings.warehouse_path, serving, settings.alerts_path)
    return Served(settings.warehouse_path, settings.alerts_path, serving)


def test_snapshot_asset_is_wired_into_the_daily_job(tmp_path):
    defs = build_definitions(Settings(data_dir=tmp_path))
    node = defs.resolve_asset_graph().get(SNAPSHOT_KEY)
    assert node.group_name == "service"
    assert node.backfill_policy == dg.BackfillPolicy.single_run()
    marts = set(mart_keys())
    assert {"kpi_daily", "kpi_monthly", "user_profile", "segment_daily"} <= {k.path[-1] for k in marts}
    expected = marts | {
        dg.AssetKey(["application", n])
        for n in ("kpi_alerts", "churn_risk_scores", "demand_forecast", "ab_test_results")
    }
    assert expected <= set(node.parent_keys)
    assets_def = defs.get_assets_def(SNAPSHOT_KEY)
    assert assets_def.op.pool == "warehouse"
    assert {"team:data-platform"} <= set(node.owners) and node.code_version
    job = defs.resolve_job_def(PLATFORM_JOB)
    assert SNAPSHOT_KEY in job.asset_layer.executable_asset_keys


def test_daily_run_published_the_snapshot_with_its_metadata(platform):
    event = platform.instance.get_latest_materialization_event(SNAPSHOT_KEY)
    assert event is not None, "the daily job materialises service/serving_snapshot"
    meta = event.asset_materialization.metadata
    settings = platform.settings
    manifest = read_manifest(settings.serving_dir)
    assert meta["snapshot_path"].value == str(settings.serving_path) and settings.serving_path.exists()
    assert {f"marts.{k.path[-1]}" for k in mart_keys()} <= set(manifest["tables"])
    assert meta["table_count"].value == len(manifest["tables"])
    for name, body in manifest["tables"].items():
        assert meta[f"rows/{name}"].value == body["rows"]


def test_snapshot_equals_the_warehouse_table_by_table(served):
    con = duckdb.connect()
    attach(con, served.warehouse_path, "wh")
    attach(con, served.serving_path, "snap")
    expected = [
        f"{s}.{t}"
        for s, t in con.execute(
            "select table_schema, table_name from information_schema.tables where table_catalog = 'wh' "
            "and (table_schema in ('marts', 'application') or (table_schema, table_name) = ('reference', 'kpi_targets'))"
        ).fetchall()
    ]
    assert len([t for t in expected if t.startswith("marts.")]) == len(mart_keys())
    manifest = read_manifest(served.serving_dir)
    assert set(manifest["tables"]) == set(expected) | {"ops.alerts"}
    for name in expected:
        rows = con.execute(f"select count(*) from wh.{name}").fetchone()[0]
        assert manifest["tables"][name]["rows"] == rows
        for a, b in (("wh", "snap"), ("snap", "wh")):
            missing = con.execute(
                f"select count(*) from (select * from {a}.{name} except all select * from {b}.{name})"
            ).fetchone()[0]
            assert missing == 0, f"{name}: {missing} rows of {a} are not in {b}"
        parquet = served.serving_dir / manifest["tables"][name]["parquet"]
        diff = con.execute(
            f"select count(*) from (select * from read_parquet('{parquet}') except all select * from snap.{name})"
        ).fetchone()[0]
        assert diff == 0 and con.execute(f"select count(*) from read_parquet('{parquet}')").fetchone()[0] == rows
    assert con.execute("select count(*) from snap.marts.kpi_daily").fetchone()[0] > 150


def test_alerts_are_copied_from_the_alerts_file(served):
    import sqlite3

    with sqlite3.connect(served.alerts_path) as lite:
        source = lite.execute("select alert_id, level, message from alerts order by alert_id").fetchall()
    con = duckdb.connect(str(served.serving_path), read_only=True)
    try:
        copied = con.execute("select alert_id, level, message from ops.alerts order by alert_id").fetchall()
    finally:
        con.close()
    assert copied == source


def _personal_data(frame: pd.DataFrame) -> dict[str, list[str]]:
    """Text columns of a frame that hold an e-mail address or a phone number, with a few values."""
    found = {}
    for column in frame.select_dtypes(include=["object", "string"]).columns:
        text = frame[column].dropna().astype(str)
        hits = text[text.str.contains(EMAIL) | text.str.contains(PHONE)]
        if len(hits):
            found[column] = hits.head(3).tolist()
    return found


def test_no_email_address_or_phone_number_anywhere_in_the_snapshot(served):
    con = duckdb.connect(str(served.serving_path), read_only=True)
    try:
        tables = con.execute("select table_schema, table_name from information_schema.tables").fetchall()
        frames = {f"{s}.{t}": con.execute(f'select * from "{s}"."{t}"').df() for s, t in tables}
    finally:
        con.close()
    frames |= {p.name: pd.read_parquet(p) for p in (served.serving_dir / "parquet").glob("*.parquet")}
    assert sum(len(f.select_dtypes(include=["object", "string"]).columns) for f in frames.values()) > 30
    assert {name: bad for name, frame in frames.items() if (bad := _personal_data(frame))} == {}
    # The scan finds what it looks for.
    planted = pd.DataFrame({"note": ["ok", "mail li.wei@example.com", "+86 13912345678"]})
    assert _personal_data(planted) == {"note": ["mail li.wei@example.com", "+86 13912345678"]}


def _tiny_warehouse(path, note: str) -> None:
    con = duckdb.connect(str(path))
    con.execute("create schema marts")
    con.execute(
        "create table marts.people as select 'C1' as customer_id, ? as note, "
        "'5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8' as email_sha256, "
        "'+86 13800138000' as phone",
        [note],
    )
    con.close()


def test_publish_drops_contact_columns_and_refuses_personal_data(tmp_path):
    serving = tmp_path / "serving"
    _tiny_warehouse(tmp_path / "clean.duckdb", "prefers evening delivery")
    snap = publish_snapshot(tmp_path / "clean.duckdb", serving)
    assert sorted(snap.excluded_columns) == ["marts.people.email_sha256", "marts.people.phone"]
    con = duckdb.connect(str(snap.path), read_only=True)
    assert [
        c
        for (c,) in con.execute(
            "select column_name from information_schema.columns where table_name = 'people'"
        ).fetchall()
    ] == ["customer_id", "note"]
    con.close()
    before = snap.path.stat().st_ino
    for note in ("call me on +86 139 1234 5678", "write to li.wei@example.com", "13912345678"):
        _tiny_warehouse(tmp_path / "dirty.duckdb", note)
        with pytest.raises(PersonalDataFound, match="marts.people.note"):
            publish_snapshot(tmp_path / "dirty.duckdb", serving)
        (tmp_path / "dirty.duckdb").unlink()
    assert snap.path.stat().st_ino == before, "a refused publish leaves the previous snapshot in place"
    assert sorted(p.name for p in serving.iterdir()) == ["manifest.json", "parquet", "serving.duckdb"]


def test_a_publish_swaps_atomically_and_a_long_reader_finishes_on_the_old_file(served, tmp_path):
    serving = tmp_path / "serving"
    first = publish_snapshot(
        served.warehouse_path, serving, served.alerts_path, now=dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    )
    reader = duckdb.connect()
    attach(reader, first.path, "old")
    cursor = reader.execute("select * from old.marts.segment_daily order by segment_date, customer_id")
    head = cursor.fetchmany(100)
    old_inode = first.path.stat().st_ino
    second = publish_snapshot(
        served.warehouse_path, serving, served.alerts_path, now=dt.datetime(2026, 4, 2, tzinfo=dt.UTC)
    )
    assert second.path == first.path and second.path.stat().st_ino != old_inode, "a new file took the name"
    rest = cursor.fetchall()
    total = duckdb.connect(str(served.warehouse_path), read_only=True)
    try:
        assert len(head) + len(rest) == total.execute("select count(*) from marts.segment_daily").fetchone()[0]
    finally:
        total.close()
    assert reader.execute("select published_at from old.meta.snapshot").fetchone()[0] == dt.datetime(2026, 4, 1)
    fresh = duckdb.connect()
    attach(fresh, second.path, "new")
    assert fresh.execute("select published_at from new.meta.snapshot").fetchone()[0] == dt.datetime(2026, 4, 2)
    assert json.loads((serving / "manifest.json").read_text())["published_at"].startswith("2026-04-02")
    assert not list(serving.rglob("*.tmp")), "no temporary file is left behind"


def test_publisher_and_api_do_not_import_dagster():
    code = (
        "import sys, core.service.snapshot, api.app, api.snapshot, api.keys, api.__main__; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dagster', 'dagster_dbt')))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
