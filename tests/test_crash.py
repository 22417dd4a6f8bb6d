"""kill -9 during collection, the warehouse load and dbt: the next run starts without waiting for
the dead run's slot, and the platform converges to the warehouse a clean run builds (per table:
rows and a checksum of every row). No partition of the lake is ever half written. Two runs at
once and an analyst's read-only connection on the warehouse: both runs succeed.

Real processes: each run is `python -c <RUN>` in its own process on a real SQLite instance with
the warehouse pool limited to one slot, as `make run` sets it up."""

from __future__ import annotations

import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from simulator import DefectRates, SimulationConfig, simulate
from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.slow

START, END = dt.date(2026, 1, 5), dt.date(2026, 1, 8)
GROUPS = ("collection", "storage", "processing")
# One run of the platform job over the settings' range (collection, storage, processing), as the
# command line runs it: reap dead runs first, then execute in this process.
RUN = textwrap.dedent(
    f"""
    import sys
    import dagster as dg
    from core.settings import get_settings
    from orchestration.cli import ensure_dagster_home
    from orchestration.definitions import PLATFORM_JOB, build_definitions
    from orchestration.partitions import range_tags
    from orchestration.recovery import host_tags, reap_dead_runs
    from tests.conftest import assets_in_groups

    settings = get_settings()
    ensure_dagster_home()
    defs = build_definitions(settings)
    job = defs.resolve_job_def(PLATFORM_JOB)
    with dg.DagsterInstance.get() as instance:
        reap_dead_runs(instance, log=print)
        result = job.execute_in_process(
            instance=instance,
            tags={{**range_tags(settings.demo_start, settings.demo_end), **host_tags()}},
            asset_selection=assets_in_groups(defs, {GROUPS!r}),
            raise_on_error=False,
        )
    print("RUN", result.run_id, "SUCCESS" if result.success else "FAILURE", flush=True)
    sys.exit(0 if result.success else 1)
    """
)


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("crash")
    simulate(
        SimulationConfig(start=START, end=END, seed=5, scale=0.4, defects=DefectRates()),
        root / "landing",
        root / "ground_truth",
    )
    return root / "landing"


@pytest.fixture(scope="module")
def clean(landing, tmp_path_factory) -> tuple[Path, dict]:
    """A clean build of the range (no crash): its data directory and warehouse fingerprint."""
    data = tmp_path_factory.mktemp("clean")
    _finish(_start(_env(data, landing)))
    expected = _fingerprint(data / "warehouse" / "warehouse.duckdb")
    assert expected["raw.orders"][0] > 0 and expected["marts.kpi_daily"][0] > 0
    return data, expected


def _env(data: Path, landing: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DMP_DATA_DIR": str(data),
        "DMP_LANDING_DIR": str(landing),
        "DMP_PARTITIONS_START": START.isoformat(),
        "DMP_DEMO_START": START.isoformat(),
        "DMP_DEMO_END": END.isoformat(),
        "DAGSTER_HOME": str(data / "dagster_home"),
        "PYTHONPATH": str(PROJECT_ROOT),
    }


def _start(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", RUN],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(proc: subprocess.Popen, timeout: float = 600) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-4000:]
    return out


def _run_logs(home: Path) -> set[Path]:
    return set((home / "history" / "runs").glob("*.db"))


def _started_steps(home: Path, before: set[Path]) -> set[str]:
    """Steps started by runs whose event log is not among `before`, read straight from the SQLite
    event-log files (read-only): opening a Dagster instance while the run's process is still
    creating its storage could race with that creation."""
    steps: set[str] = set()
    for db in (home / "history" / "runs").glob("*.db"):
        if db.name == "index.db" or db in before:
            continue
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
                rows = con.execute("select step_key from event_logs where dagster_event_type = 'STEP_START'")
                steps |= {key for (key,) in rows.fetchall()}
        except sqlite3.Error:
            continue  # being created: look again
    return steps


def _kill_when(proc: subprocess.Popen, home: Path, prefix: str, before: set[Path], timeout: float = 600) -> str:
    """kill -9 the run as soon as a step whose key starts with `prefix` has started."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the run ended before a {prefix} step started: {proc.stdout.read()[-3000:]}")
        steps = _started_steps(home, before)
        hit = sorted(s for s in steps if s.startswith(prefix))
        if hit:
            time.sleep(0.3)  # inside the step's work
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return hit[0]
        time.sleep(0.2)
    pytest.fail(f"no {prefix} step started within {timeout}s")


def _fingerprint(warehouse: Path) -> dict[str, tuple[int, str]]:
    """Per table: row count and an order-independent checksum of every row's text."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_type = 'BASE TABLE' order by 1, 2"
        ).fetchall()
        out = {}
        for schema, table in tables:
            name = f'"{schema}"."{table}"'
            out[f"{schema}.{table}"] = con.execute(
                f"select count(*), coalesce(md5(string_agg(t::varchar, chr(10) order by t::varchar)), '') "
                f"from {name} as t"
            ).fetchall()[0]
    return out


def _unreadable_partitions(lake: Path) -> list[Path]:
    """Partition files a reader would see that are not whole Parquet files."""
    bad = []
    for path in lake.rglob("*.parquet"):
        try:
            duckdb.sql(f"select count(*) from read_parquet('{path}')").fetchall()
        except duckdb.Error:
            bad.append(path)
    return bad


def _leftovers(lake: Path) -> list[Path]:
    return [p for p in lake.rglob("*.tmp")]


def test_kill_9_in_each_layer_then_the_next_run_converges_to_a_clean_build(landing, clean, tmp_path):
    _, expected = clean

    crashed = tmp_path / "crashed"
    env = _env(crashed, landing)
    home = crashed / "dagster_home"
    killed = []
    for prefix in ("lake__", "raw__", "dbt_daily"):
        before = _run_logs(home)
        proc = _start(env)
        killed.append(_kill_when(proc, home, prefix, before))
        assert not _unreadable_partitions(crashed / "lake"), "no half-written partition is visible"
    started = time.time()
    out = _finish(_start(env), timeout=600)
    assert "marked failed" in out or "dead" in out, out[-3000:]
    assert killed[0].startswith("lake__") and killed[1].startswith("raw__") and killed[2] == "dbt_daily"
    assert time.time() - started < 400, "the run after the crashes did not wait for a dead run's slot"
    assert not _leftovers(crashed / "lake"), "the killed writers' temporary files are cleared"
    got = _fingerprint(crashed / "warehouse" / "warehouse.duckdb")
    assert got == expected, {k: (got.get(k), v) for k, v in expected.items() if got.get(k) != v}


def test_two_runs_at_once_and_a_reader_all_succeed(landing, clean):
    data, expected = clean  # the clean build's warehouse exists, so an analyst can open it
    env = _env(data, landing)
    reader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(data / 'warehouse' / 'warehouse.duckdb')!r}, "
            "read_only=True); c.execute('select count(*) from marts.kpi_daily').fetchall(); time.sleep(45)",
        ],
    )
    try:
        first, second = _start(env), _start(env)
        _finish(first)
        _finish(second)
    finally:
        reader.kill()
        reader.wait()
    assert _fingerprint(data / "warehouse" / "warehouse.duckdb") == expected, "re-running the range changes nothing"
