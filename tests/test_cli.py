"""The command line says what is wrong in words a person can act on."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

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


def test_a_run_in_this_process_reports_each_finished_step_with_its_rows(tmp_path):
    """`make run` prints a line per finished step (StepProgress, read from the run's own event log)."""
    import shutil

    import dagster as dg
    from dagster._core.utils import make_new_run_id

    from core.settings import Settings
    from orchestration.definitions import build_definitions
    from orchestration.recovery import StepProgress
    from tests.test_partitions_clock import DAY, GOOD

    settings = Settings(data_dir=tmp_path / "demo", partitions_start=DAY, demo_start=DAY, demo_end=DAY)
    shutil.copytree(GOOD, settings.landing_dir / "orders")
    job = build_definitions(settings).resolve_job_def("platform_daily")
    lines: list[str] = []
    run_id = make_new_run_id()
    with dg.DagsterInstance.ephemeral() as instance, StepProgress(instance, run_id, log=lines.append, every=0.2):
        result = job.execute_in_process(
            instance=instance,
            run_id=run_id,
            partition_key=DAY.isoformat(),
            asset_selection=[dg.AssetKey(["lake", "orders"]), dg.AssetKey(["raw", "orders"])],
        )
    assert result.success
    steps = {line.split()[0]: line for line in lines}
    assert set(steps) == {"lake__orders", "raw__orders"}, lines
    assert all(" done in " in line for line in lines) and len(lines) == 2, "one line per step, once"
    rows = result.asset_materializations_for_node("raw__orders")[0].metadata["dagster/row_count"].value
    assert steps["raw__orders"].endswith(f", {rows:,} rows")


@pytest.mark.slow  # a real run: Dagster and dbt over a week
def test_cli_run_prints_its_progress_not_dbts_log(tmp_path):
    """`cli run` (what `make run` does after simulating) prints the run id with the UI link first,
    then a line per finished step; dbt's own output goes to each invocation's console.log."""
    import datetime as dt

    from simulator import DefectRates, SimulationConfig, simulate

    start, end = dt.date(2026, 1, 1), dt.date(2026, 1, 7)
    simulate(
        SimulationConfig(start=start, end=end, seed=4, scale=0.1, defects=DefectRates.none()),
        tmp_path / "data" / "landing",
        tmp_path / "truth",
    )
    done = _cli(
        "run",
        "--start",
        str(start),
        "--end",
        str(end),
        DMP_DATA_DIR=str(tmp_path / "data"),
        DMP_PARTITIONS_START=str(start),
        DMP_DEMO_START=str(start),
        DMP_DEMO_END=str(end),
        DAGSTER_HOME=str(tmp_path / "home"),
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    first = next(i for i, line in enumerate(lines) if "started: http://" in line)
    run_id = lines[first].split()[1]
    assert f"/runs/{run_id}" in lines[first]
    steps = [line.split()[0] for line in lines[first + 1 :] if " done in " in line]
    assert {"lake__orders", "raw__orders", "dbt_daily", "dbt_tables"} <= set(steps), done.stdout
    assert len(steps) == len(set(steps)), "one line per step"
    assert "START sql" not in done.stdout and "\x1b[" not in done.stdout, "no dbt lines, no colour codes"
    logs = sorted((PROJECT_ROOT / "dbt_project" / "target").glob(f"dbt_daily-{run_id[:7]}-*/console.log"))
    assert logs and "START sql" in logs[-1].read_text() and "\x1b[" not in logs[-1].read_text()


@pytest.mark.slow  # a real (failing) run through the command line
def test_a_failed_command_line_run_raises_its_red_alert_once(tmp_path):
    """A run started from the command line raises the run-failure alert itself (no daemon need be
    running); the run_failure_alerts sensor, evaluated on the same run afterwards, adds no second one."""
    import shutil

    import dagster as dg

    from core.alerts.store import list_alerts
    from core.settings import Settings
    from orchestration.automation.sensors import run_failure_alerts
    from orchestration.definitions import build_definitions

    day = "2026-01-10"
    data = tmp_path / "data"
    shutil.copytree(PROJECT_ROOT / "tests" / "data" / "hostile" / "binary_png", data / "landing" / "orders")
    env = {"DMP_DATA_DIR": str(data), "DMP_PARTITIONS_START": day, "DMP_DEMO_START": day, "DMP_DEMO_END": day}
    home = tmp_path / "home"
    done = _cli("run", "--start", day, "--end", day, DAGSTER_HOME=str(home), **env)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    settings = Settings(data_dir=data, partitions_start=day, demo_start=day, demo_end=day)
    red = [a for a in list_alerts(settings.alerts_path) if a.check_name == "run_failure"]
    assert len(red) == 1 and red[0].level == "red" and red[0].partition == day, red
    assert "platform_daily failed" in red[0].message

    with dg.DagsterInstance.from_config(str(home)) as instance:
        run = instance.get_run_by_id(red[0].run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.FAILURE
        failure = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records[0]
        defs = build_definitions(settings)
        context = dg.build_run_status_sensor_context(
            sensor_name="run_failure_alerts",
            dagster_event=failure.event_log_entry.dagster_event,
            dagster_instance=instance,
            dagster_run=run,
            resources={"alerts": defs.resources["alerts"]},
        ).for_run_failure()
        run_failure_alerts(context)
    assert [a.alert_id for a in list_alerts(settings.alerts_path) if a.check_name == "run_failure"] == [red[0].alert_id]
