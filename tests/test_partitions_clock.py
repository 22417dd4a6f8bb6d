"""The partitions end where the data ends, and freshness reads the data's clock.

The simulated business lives in its own half year: its partitions stop at the demo's last day (the UI
shows no months of "missing" days after it, the backfill dialog offers no empty days) and freshness is
judged against the day after it. A business's own exports keep a partition per day up to yesterday and
are judged against today."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys

import dagster as dg

from core.settings import Settings
from orchestration.definitions import build_definitions
from tests.conftest import PROJECT_ROOT

DAY = dt.date(2026, 1, 10)
GOOD = PROJECT_ROOT / "tests" / "data" / "hostile" / "good" / "orders"


def _settings(data_dir, landing=None, **kwargs) -> Settings:
    return Settings(
        data_dir=data_dir,
        landing_dir=landing,
        partitions_start=DAY - dt.timedelta(days=9),
        demo_start=DAY - dt.timedelta(days=9),
        demo_end=DAY,
        **kwargs,
    )


def test_the_simulated_business_ends_its_partitions_on_its_last_day(tmp_path):
    demo = _settings(tmp_path / "demo")
    assert demo.partitions_end == DAY and demo.as_of() == DAY + dt.timedelta(days=1)
    keys = build_definitions(demo).resolve_job_def("platform_daily").partitions_def.get_partition_keys()
    assert keys[0] == "2026-01-01" and keys[-1] == DAY.isoformat() and len(keys) == 10

    own = _settings(tmp_path / "own", tmp_path / "exports")
    today = dt.datetime.now(dt.UTC).date()
    assert own.partitions_end is None and own.as_of() == today
    keys = build_definitions(own).resolve_job_def("platform_daily").partitions_def.get_partition_keys()
    assert keys[-1] == (today - dt.timedelta(days=1)).isoformat()

    configured = _settings(tmp_path / "own", tmp_path / "exports", partitions_end=DAY + dt.timedelta(days=5))
    keys = build_definitions(configured).resolve_job_def("platform_daily").partitions_def.get_partition_keys()
    assert keys[-1] == "2026-01-15"


def test_the_daily_schedule_skips_days_after_the_last_partition(tmp_path):
    defs = build_definitions(_settings(tmp_path))
    schedule = defs.resolve_schedule_def("daily_platform_schedule")

    def tick(when: dt.datetime):
        return schedule.evaluate_tick(
            dg.build_schedule_context(scheduled_execution_time=when, repository_def=defs.get_repository_def())
        )

    assert tick(dt.datetime(2026, 1, 11, 2, tzinfo=dt.UTC)).run_requests[0].partition_key == DAY.isoformat()
    late = tick(dt.datetime(2026, 1, 12, 2, tzinfo=dt.UTC))
    assert not late.run_requests and "after the last partition 2026-01-10" in late.skip_message


def _freshness(settings: Settings):
    shutil.copytree(GOOD, settings.landing_dir / "orders")
    job = build_definitions(settings).resolve_job_def("platform_daily")
    result = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        partition_key=DAY.isoformat(),
        asset_selection=[dg.AssetKey(["lake", "orders"]), dg.AssetKey(["raw", "orders"])],
        raise_on_error=False,
    )
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    return next(
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.event_specific_data.check_name == "freshness"
    )


def test_freshness_is_judged_against_the_datas_clock(tmp_path):
    # The same export, loaded as the simulated business (its clock: the day after its last day) ...
    demo = _freshness(_settings(tmp_path / "demo"))
    assert demo.passed, demo.metadata
    # ... and as a business's own export, judged against today (months later): stale.
    own = _freshness(_settings(tmp_path / "own", tmp_path / "exports"))
    assert not own.passed


def test_a_run_past_the_last_partition_names_the_setting(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "run", "--start", "2026-01-05", "--end", "2026-01-20"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "DMP_DATA_DIR": str(tmp_path),
            "DMP_PARTITIONS_START": "2026-01-01",
            "DMP_DEMO_START": "2026-01-01",
            "DMP_DEMO_END": "2026-01-10",
        },
        timeout=300,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "after the last daily partition 2026-01-10" in done.stderr and "DMP_PARTITIONS_END=2026-01-20" in done.stderr
    assert "Traceback" not in done.stderr
