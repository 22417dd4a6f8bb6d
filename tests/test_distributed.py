"""Dagster on a distributed executor, for real: a PostgreSQL instance, Redis as the Celery broker,
two Celery worker processes started by `python -m orchestration.workers up` (what `make workers`
runs), and a run of the collection and storage layers whose steps are spread over both workers."""

from __future__ import annotations

import contextlib
import json
import subprocess

import dagster as dg
import duckdb
import pytest
from dagster._core.definitions.reconstruct import ReconstructableRepository

from core.settings import Settings
from orchestration.definitions import build_definitions
from orchestration.names import PLATFORM_JOB
from orchestration.partitions import range_tags
from tests.test_deployment import (
    END,
    PROJECT_ROOT,
    PYTHON,
    START,
    _child_env,
    _core_assets,
    _environ,
    _settings_env,
    postgres_url,  # noqa: F401  (a fixture)
    tiny_landing,  # noqa: F401  (a fixture)
)


def test_workers_without_a_broker_say_which_and_start_nothing(tmp_path):
    env = _child_env(DMP_DATA_DIR=str(tmp_path / "data"), DMP_CELERY_BROKER="redis://127.0.0.1:1/0")
    proc = subprocess.run(
        [PYTHON, "-m", "orchestration.workers", "up"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "redis://127.0.0.1:1/0 does not answer" in proc.stderr and "DMP_CELERY_BROKER" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "data" / "celery" / "workers.json").exists()


def _raw_counts(warehouse) -> dict[str, int]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = [
            t
            for (t,) in con.execute(
                "select table_name from information_schema.tables where table_schema = 'raw'"
            ).fetchall()
        ]
        return {t: con.execute(f'select count(*) from raw."{t}"').fetchone()[0] for t in sorted(tables)}


@pytest.mark.slow  # real worker processes and Dagster runs
def test_a_run_on_celery_spreads_its_steps_over_two_worker_processes(tmp_path, postgres_url, tiny_landing):  # noqa: F811
    root = tmp_path / "celery"
    home = root / "dagster_home"
    values = {
        **_settings_env(root, tiny_landing),
        "DAGSTER_HOME": str(home),
        "DMP_INSTANCE": "postgres",
        "DMP_POSTGRES_URL": postgres_url,
        "DMP_EXECUTOR": "celery",
        # Databases of the machine's Redis of their own: a developer's `make workers` (database 0)
        # takes none of this run's steps, and these workers none of theirs.
        "DMP_CELERY_BROKER": "redis://127.0.0.1:6379/14",
        "DMP_CELERY_BACKEND": "redis://127.0.0.1:6379/15",
    }
    env = _child_env(**values)
    run = lambda *args: subprocess.run(  # noqa: E731
        [PYTHON, *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    written = run("-m", "orchestration.instance", "write", "--pools")
    assert written.returncode == 0, written.stderr
    up = run("-m", "orchestration.workers", "up", "--workers", "2")
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        with contextlib.ExitStack() as stack:
            stack.enter_context(_environ(**values))
            settings = Settings()
            assert settings.run_config()["execution"]["config"]["celery"]["broker"].startswith("redis://")
            status = json.loads(run("-m", "orchestration.workers", "status").stdout)
            workers = {w["pid"] for w in status["workers"].values() if w["alive"]}
            assert len(workers) == 2
            instance = stack.enter_context(dg.DagsterInstance.from_config(str(home)))
            job = ReconstructableRepository.for_module(
                "orchestration.definitions", "defs", working_directory=str(PROJECT_ROOT)
            ).get_reconstructable_job(PLATFORM_JOB)
            selection = _core_assets(("collection", "storage"))
            with dg.execute_job(
                job,
                instance=instance,
                run_config=settings.run_config(),
                tags=range_tags(START, END),
                asset_selection=selection,
            ) as result:
                assert result.success, [e.message for e in result.all_events if e.is_failure]
                run_id = result.run_id
            records = instance.all_logs(run_id)
    finally:
        down = run("-m", "orchestration.workers", "down")
    assert "dmp-worker-1" in down.stdout and "dmp-worker-2" in down.stdout

    # Every step started in one of the two worker processes, and both workers ran steps.
    step_pids = {
        r.step_key: r.dagster_event.pid
        for r in records
        if r.dagster_event is not None and r.dagster_event.event_type_value == "STEP_START"
    }
    assert len(step_pids) >= 10, sorted(step_pids)
    assert set(step_pids.values()) <= workers, (step_pids, workers)
    assert len(set(step_pids.values())) == 2, step_pids
    hosts = {
        r.dagster_event.engine_event_data.metadata["Celery worker"].value
        for r in records
        if r.dagster_event is not None
        and r.dagster_event.event_type_value == "ENGINE_EVENT"
        and "Celery worker" in (r.dagster_event.engine_event_data.metadata or {})
    }
    assert {h.split("@")[0] for h in hosts} == {"dmp-worker-1", "dmp-worker-2"}

    # What the workers wrote is what one process writes from the same files.
    reference = tmp_path / "in_process"
    one = Settings(
        data_dir=reference / "data", landing_dir=tiny_landing, partitions_start=START, demo_start=START, demo_end=END
    )
    with dg.DagsterInstance.ephemeral() as ephemeral:
        job_def = build_definitions(one).resolve_job_def(PLATFORM_JOB)
        assert job_def.execute_in_process(
            instance=ephemeral, tags=range_tags(START, END), asset_selection=selection
        ).success
    counts = _raw_counts(settings.warehouse_path)
    assert counts == _raw_counts(one.warehouse_path)
    assert counts["orders"] > 0 and counts["events"] > 0
