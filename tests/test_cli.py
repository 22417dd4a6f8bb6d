"""The command line says what is wrong in words a person can act on."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import PROJECT_ROOT


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "orchestration.cli", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore", **env},
        timeout=300,
    )


def test_a_range_before_the_first_partition_names_the_setting(tmp_path):
    done = _cli(
        "run",
        "--start",
        "2025-01-01",
        "--end",
        "2025-01-02",
        DMP_DATA_DIR=str(tmp_path),
        DMP_LANDING_DIR=str(tmp_path / "landing"),
        DMP_PARTITIONS_START="2025-10-01",
    )
    assert done.returncode == 2
    assert "DMP_PARTITIONS_START=2025-01-01" in done.stderr and "Traceback" not in done.stderr


def test_summary_reads_the_snapshot_while_a_load_holds_the_warehouse(tmp_path):
    """`cli summary` never opens the warehouse: with a writer holding it (as a load does), the
    summary still prints the KPIs, from the serving snapshot."""
    import duckdb

    from core.service.snapshot import publish_snapshot

    warehouse = tmp_path / "warehouse" / "warehouse.duckdb"
    warehouse.parent.mkdir(parents=True)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.kpi_monthly as select date '2026-01-01' as kpi_month, 'orders' as kpi, "
            "42.0 as value, null::double as target, null::boolean as meets_target"
        )
    publish_snapshot(warehouse, tmp_path / "serving")
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('open', flush=True); time.sleep(60)",
            str(warehouse),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout.readline().strip() == "open"
        done = _cli("summary", DMP_DATA_DIR=str(tmp_path), DMP_LANDING_DIR=str(tmp_path / "landing"))
    finally:
        writer.kill()
        writer.wait()
    assert done.returncode == 0, done.stderr
    assert "from the serving snapshot" in done.stdout and "orders" in done.stdout and "42" in done.stdout


def test_docs_are_built_from_a_copy_of_the_warehouse(tmp_path):
    """`cli docs` copies the warehouse through a read-only attachment; the copy has every table."""
    import duckdb

    from core.settings import Settings
    from orchestration.cli import warehouse_copy

    settings = Settings(data_dir=tmp_path, landing_dir=tmp_path / "landing")
    settings.warehouse_path.parent.mkdir(parents=True)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("create schema marts; create table marts.t as select range as x from range(5)")
    copy = warehouse_copy(settings, tmp_path / "docs" / "copy.duckdb")
    with duckdb.connect(str(copy), read_only=True) as con:
        assert con.execute("select count(*) from marts.t").fetchall() == [(5,)]
    with duckdb.connect(str(settings.warehouse_path)) as con:  # the warehouse is free again
        con.execute("insert into marts.t values (5)")


def test_make_docs_writes_one_static_page_under_the_data_dir(platform, tmp_path):
    """`make docs` (cli docs) honours DMP_DATA_DIR and writes dbt's static page: manifest and catalog
    inlined, so it opens from the file with no server, and the catalog has the warehouse's columns."""
    default_docs = PROJECT_ROOT / "data" / "docs"

    def stamp():
        return sorted((str(f), f.stat().st_mtime_ns) for f in default_docs.rglob("*")) if default_docs.exists() else []

    before = stamp()
    done = _cli(
        "docs",
        DMP_DATA_DIR=str(tmp_path),
        DMP_LANDING_DIR=str(platform.settings.landing_dir),
        DMP_WAREHOUSE_PATH=str(platform.settings.warehouse_path),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    page = tmp_path / "docs" / "dbt" / "static_index.html"
    assert str(page) in done.stdout
    html = page.read_text()
    # The static page carries the manifest and the catalog inline (the plain index.html fetches them).
    assert "model.data_middle_platform.kpi_daily" in html and '"net_revenue"' in html
    assert stamp() == before, "nothing written to the default data directory"
