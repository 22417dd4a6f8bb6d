"""`python -m orchestration.backfill` (what `make backfill` runs) never leaves a request behind that
would run later by surprise: with --wait and no daemon it refuses before requesting anything, and a
request it gives up on before the run started is cancelled."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import dagster as dg
import pytest
from dagster._core.execution.backfill import BulkActionStatus

from orchestration.backfill import (
    DEFAULT_WORKSPACE,
    BackfillAbandoned,
    backfill_daemon_alive,
    cancel_if_unlaunched,
    request_backfill,
    wait_for_backfill,
)
from tests.conftest import PROJECT_ROOT

DAY = dt.date(2026, 1, 10)  # inside the demo's partitions


def test_wait_without_a_daemon_refuses_at_once_and_requests_nothing(tmp_path):
    home = tmp_path / "home"
    env = {**os.environ, "DAGSTER_HOME": str(home), "DMP_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, "-m", "orchestration.backfill", "--start", str(DAY), "--end", str(DAY), "--wait"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "no Dagster daemon is running" in done.stderr and "make daemon" in done.stderr
    assert "Traceback" not in done.stderr
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_backfills() == []


def test_a_request_given_up_before_its_run_started_is_cancelled(tmp_path, monkeypatch):
    monkeypatch.setenv("DMP_DATA_DIR", str(tmp_path / "data"))  # the code server loads the definitions with it
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        backfill_id = request_backfill(instance, DEFAULT_WORKSPACE, DAY, DAY)
        assert instance.get_backfill(backfill_id).status == BulkActionStatus.REQUESTED
        assert not backfill_daemon_alive(instance)
        # Nothing would execute it: the wait ends at once instead of at its timeout.
        with pytest.raises(BackfillAbandoned, match="daemon stopped before it launched"):
            wait_for_backfill(instance, backfill_id, timeout=3600, poll=0.1, echo=lambda _: None)
        assert cancel_if_unlaunched(instance, backfill_id)
        assert instance.get_backfill(backfill_id).status == BulkActionStatus.CANCELED
        assert not cancel_if_unlaunched(instance, backfill_id), "a cancelled request is not touched again"


def test_every_command_has_a_description_and_shows_its_defaults():
    def help_of(module: str, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", module, *args, "--help"], cwd=PROJECT_ROOT, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    backfill = help_of("orchestration.backfill")
    assert "default: 21600" in backfill and "default platform_daily" in backfill
    for command in ("demo", "simulate", "run", "summary", "home", "docs"):
        text = help_of("orchestration.cli", command)
        body = text.split("\n\n", 2)[1]  # the description paragraph after the usage line
        assert len(body.split()) >= 5, (command, text)
    assert "default: DMP_DEMO_START" in help_of("orchestration.cli", "run")
