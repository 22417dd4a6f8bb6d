"""A run whose process was killed (kill -9) holding the warehouse slot does not block later runs:
the next start finds it, marks it failed and frees the slot. Real processes, a real instance."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import dagster as dg
import pytest

from orchestration.recovery import process_alive, reap_dead_runs, slot_holders
from tests.conftest import PROJECT_ROOT

# A real run: one step in the warehouse pool that says it started, then works for ten minutes.
HOLDER = textwrap.dedent(
    """
    import time
    import dagster as dg

    @dg.asset(pool="warehouse")
    def load_warehouse(context):
        print(context.run_id, flush=True)
        time.sleep(600)

    dg.materialize([load_warehouse], instance=dg.DagsterInstance.get())
    """
)


@pytest.fixture()
def instance(tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as inst:
        inst.event_log_storage.set_concurrency_slots("warehouse", 1)
        yield inst


def _holder() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore", "DAGSTER_DISABLE_TELEMETRY": "1"},
    )
    run_id = proc.stdout.readline().strip()
    return proc, run_id


def test_a_killed_run_is_failed_and_its_slot_freed(instance):
    proc, run_id = _holder()
    try:
        assert slot_holders(instance, "warehouse") == [f"{run_id} (load_warehouse)"]
        assert reap_dead_runs(instance) == [], "a run whose process lives is left alone"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert not process_alive(proc.pid)
        messages = []
        assert reap_dead_runs(instance, log=messages.append) == [run_id]
        assert f"process {proc.pid} is gone" in messages[0]
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
        assert slot_holders(instance, "warehouse") == []
        claim = instance.event_log_storage.claim_concurrency_slot("warehouse", "next-run", "raw__orders")
        assert claim.is_claimed, "the next run gets the slot at once"
        assert reap_dead_runs(instance) == [], "nothing is reaped twice"
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_a_zombie_counts_as_gone():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert process_alive(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while process_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not process_alive(proc.pid), "killed but not yet waited for (a zombie) is not alive"
    finally:
        proc.wait(timeout=30)


def test_a_killed_writers_temporary_file_is_cleared_and_a_live_ones_kept(tmp_path):
    import duckdb

    from core.collection.writing import atomic_copy, partition_path

    target = partition_path(tmp_path / "raw", "orders", __import__("datetime").date(2026, 1, 10))
    target.parent.mkdir(parents=True)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    abandoned = target.parent / f".{target.name}.{gone.pid}.0123abcd.tmp"
    in_flight = target.parent / f".{target.name}.{os.getpid()}.4567ef01.tmp"
    abandoned.write_bytes(b"PAR1 half")
    in_flight.write_bytes(b"PAR1 being written")
    atomic_copy(duckdb.connect(), "select 1 as x", target)
    assert not abandoned.exists(), "the dead writer's file is removed"
    assert in_flight.exists(), "a file whose writer still runs is left alone"
    assert duckdb.sql(f"select x from '{target}'").fetchall() == [(1,)]


def test_a_killed_batch_writers_staging_directory_is_cleared_and_a_live_ones_kept(tmp_path):
    """Several days are written by one partitioned COPY into a staging directory beside the days'
    partitions: a killed writer's directory goes with the next write, a live writer's stays, and
    nothing staged is named like a partition file."""
    import duckdb

    from core.collection.writing import copy_partitioned, staging_directory

    folder = tmp_path / "raw" / "orders"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    abandoned = folder / f".staging.{gone.pid}.0123abcd.tmp" / "__day=0"
    in_flight = folder / f".staging.{os.getpid()}.4567ef01.tmp" / "__day=0"
    for leftover in (abandoned, in_flight):
        leftover.mkdir(parents=True)
        (leftover / "data_0.tmp").write_bytes(b"PAR1 half")
    con = duckdb.connect()
    with staging_directory(folder) as staging:
        files = copy_partitioned(con, "select i, i % 3 as d from range(10) t(i) order by i", "d", staging)
        assert not list(folder.rglob("*.parquet")), "a staged file is not named like a partition"
        assert sorted(files) == [0, 1, 2]
        assert duckdb.sql(f"select i from read_parquet('{files[1]}')").fetchall() == [(1,), (4,), (7,)]
    assert not abandoned.parent.exists(), "the dead writer's staging directory is removed"
    assert in_flight.exists(), "a directory whose writer still runs is left alone"
    assert not staging.exists(), "the writer's own staging directory is removed when it is done"


def test_a_waiting_step_is_told_who_holds_the_slot(instance):
    """A second real run whose pool step waits: the watcher names the waiting step and the holder."""
    from orchestration.recovery import WaitWatcher, waiting_report

    holder, holder_run = _holder()
    waiter = subprocess.Popen(  # the same job: its step waits for the only slot (and prints nothing yet)
        [sys.executable, "-c", HOLDER],
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "PYTHONWARNINGS": "ignore", "DAGSTER_DISABLE_TELEMETRY": "1"},
    )
    try:
        deadline, report = time.time() + 60, []
        while time.time() < deadline and not report:
            report = waiting_report(instance, "warehouse")
            time.sleep(0.5)
        assert len(report) == 1, report
        assert "step load_warehouse of run" in report[0] and f"held by run {holder_run} (load_warehouse)" in report[0]
        said: list[str] = []
        with WaitWatcher(instance, "warehouse", log=said.append, every=0.2):
            time.sleep(1.5)
        assert said == report, "the watcher says it once while nothing changes"
    finally:
        for proc in (holder, waiter):
            proc.kill()
            proc.wait(timeout=30)
