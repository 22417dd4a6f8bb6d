"""The daily schedule and the landing-zone sensor, evaluated as Dagster evaluates them."""

from __future__ import annotations

import datetime as dt
import os

import dagster as dg

from core.settings import Settings
from orchestration.definitions import build_definitions


def _defs(tmp_path, **kwargs) -> tuple[Settings, dg.Definitions]:
    settings = Settings(
        data_dir=tmp_path / "data",
        landing_dir=tmp_path / "landing",
        partitions_start=dt.date(2026, 1, 1),
        demo_start=dt.date(2026, 1, 1),
        demo_end=dt.date(2026, 1, 31),
        **kwargs,
    )
    return settings, build_definitions(settings)


def _tick(sensor, cursor, defs):
    result = sensor(dg.build_sensor_context(cursor=cursor, definitions=defs, resources=defs.resources))
    if isinstance(result, dg.SkipReason):
        return [], cursor
    return result.run_requests, result.cursor


def _land(settings: Settings, source: str, day: str, text: str = "a,b\n1,2\n"):
    folder = settings.landing_dir / source
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{day}.csv"
    path.write_text(text)
    return path


def test_landing_sensor_runs_each_new_or_changed_day_once(tmp_path):
    settings, defs = _defs(tmp_path)
    sensor = next(s for s in defs.sensors if s.name == "landing_zone_sensor")
    _land(settings, "orders", "2026-02-01")
    _land(settings, "events", "2026-02-01")
    _land(settings, "orders", "2026-02-02")
    requests, cursor = _tick(sensor, None, defs)
    assert sorted(r.partition_key for r in requests) == ["2026-02-01", "2026-02-02"]

    again, cursor = _tick(sensor, cursor, defs)
    assert again == [], "nothing new: no run"

    # A late file for an older day triggers that day; a changed file triggers its day again.
    _land(settings, "users", "2026-02-01")
    path = _land(settings, "orders", "2026-02-02", "a,b\n1,2\n3,4\n")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    requests, cursor2 = _tick(sensor, cursor, defs)
    assert sorted(r.partition_key for r in requests) == ["2026-02-01", "2026-02-02"]
    first_keys = {r.run_key for r in requests}
    assert len(first_keys) == 2

    # Replaying the same tick (same cursor) gives the same run keys: Dagster launches them once.
    replay, _ = _tick(sensor, cursor, defs)
    assert {r.run_key for r in replay} == first_keys


def test_landing_sensor_ignores_days_outside_the_partitions(tmp_path):
    settings, defs = _defs(tmp_path)
    sensor = next(s for s in defs.sensors if s.name == "landing_zone_sensor")
    _land(settings, "orders", "2025-06-01")
    requests, cursor = _tick(sensor, None, defs)
    assert requests == [] and cursor is not None


def test_daily_schedule_runs_yesterday_in_the_configured_timezone(tmp_path):
    _, defs = _defs(tmp_path, schedule_hour=2, schedule_timezone="Asia/Shanghai")
    schedule = defs.schedules[0] if isinstance(defs.schedules, list) else list(defs.schedules)[0]
    assert schedule.cron_schedule == "0 2 * * *" and schedule.execution_timezone == "Asia/Shanghai"
    # 02:00 in Shanghai on 10 March is 18:00 UTC on 9 March: the last complete UTC day is 8 March.
    when = dt.datetime(2026, 3, 10, 2, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    request = schedule.evaluate_tick(
        dg.build_schedule_context(scheduled_execution_time=when, repository_def=defs.get_repository_def())
    ).run_requests[0]
    assert request.partition_key == "2026-03-08" and request.run_key == "daily:2026-03-08"
    early = dt.datetime(2026, 1, 1, 3, 0, tzinfo=dt.UTC)
    assert not schedule.evaluate_tick(
        dg.build_schedule_context(scheduled_execution_time=early, repository_def=defs.get_repository_def())
    ).run_requests


def test_runs_the_platform_starts_itself_use_the_configured_executor(tmp_path):
    settings, defs = _defs(tmp_path)
    in_process = {"execution": {"config": {"in_process": {}}}}
    daily = defs.resolve_schedule_def("daily_platform_schedule")
    when = dt.datetime(2026, 3, 10, 3, 0, tzinfo=dt.UTC)
    context = dg.build_schedule_context(scheduled_execution_time=when, repository_def=defs.get_repository_def())
    assert daily.evaluate_tick(context).run_requests[0].run_config == in_process
    assert (
        defs.resolve_schedule_def("weekly_model_training").evaluate_tick(context).run_requests[0].run_config
        == in_process
    )
    _land(settings, "orders", "2026-02-01")
    requests, _ = _tick(defs.resolve_sensor_def("landing_zone_sensor"), None, defs)
    assert [r.run_config for r in requests] == [in_process]
    # The config is one the job accepts (the executor's own schema validates it).
    dg.validate_run_config(defs.resolve_job_def("platform_daily"), in_process)

    _, defs = _defs(tmp_path / "multi", executor="multiprocess")
    run_config = (
        defs.resolve_schedule_def("daily_platform_schedule")
        .evaluate_tick(
            dg.build_schedule_context(scheduled_execution_time=when, repository_def=defs.get_repository_def())
        )
        .run_requests[0]
        .run_config
    )
    assert run_config == {"execution": {"config": {"multiprocess": {}}}}
