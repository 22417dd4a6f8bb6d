"""The environment a dbt invocation gets: computed by a pure function, applied only for the call."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import dagster as dg
import pytest

from orchestration.processing.assets import dbt_env, environ, run_window


def test_window_and_warehouse_become_dbt_variables():
    env = dbt_env(Path("/data/wh.duckdb"), (dt.date(2026, 1, 1), dt.date(2026, 1, 31)))
    assert env == {
        "DMP_DBT_DUCKDB_PATH": "/data/wh.duckdb",
        "DMP_DBT_START_DATE": "2026-01-01",
        "DMP_DBT_END_DATE": "2026-01-31",
    }


def test_no_window_is_empty_bounds_so_models_take_all_history():
    env = dbt_env("/data/wh.duckdb", None)
    assert env["DMP_DBT_START_DATE"] == env["DMP_DBT_END_DATE"] == ""


def test_environ_restores_what_was_there(monkeypatch):
    monkeypatch.setenv("DMP_DBT_START_DATE", "before")
    monkeypatch.delenv("DMP_DBT_END_DATE", raising=False)
    with environ({"DMP_DBT_START_DATE": "2026-01-01", "DMP_DBT_END_DATE": "2026-01-31"}):
        assert os.environ["DMP_DBT_START_DATE"] == "2026-01-01"
        assert os.environ["DMP_DBT_END_DATE"] == "2026-01-31"
    assert os.environ["DMP_DBT_START_DATE"] == "before"
    assert "DMP_DBT_END_DATE" not in os.environ


def test_environ_restores_after_an_error(monkeypatch):
    monkeypatch.delenv("DMP_DBT_DUCKDB_PATH", raising=False)
    try:
        with environ({"DMP_DBT_DUCKDB_PATH": "/tmp/x.duckdb"}):
            raise RuntimeError("dbt failed")
    except RuntimeError:
        pass
    assert "DMP_DBT_DUCKDB_PATH" not in os.environ


def test_the_run_window_is_inclusive_of_the_last_day():
    partitions = dg.DailyPartitionsDefinition(start_date="2026-01-01")

    @dg.asset(partitions_def=partitions)
    def windowed(context) -> dg.MaterializeResult:
        first, last = run_window(context)
        return dg.MaterializeResult(metadata={"first": str(first), "last": str(last)})

    result = dg.materialize(
        [windowed],
        tags={"dagster/asset_partition_range_start": "2026-01-03", "dagster/asset_partition_range_end": "2026-01-05"},
    )
    metadata = result.asset_materializations_for_node("windowed")[0].metadata
    assert (metadata["first"].value, metadata["last"].value) == ("2026-01-03", "2026-01-05")


@pytest.mark.slow  # two dbt invocations
def test_dbt_invocations_open_no_adapter_in_the_dagster_process(tmp_path, monkeypatch):
    """dagster-dbt's own resource registers a dbt adapter before each invocation (seconds each);
    the platform's resource does not, and dbt still runs."""
    from dagster_dbt import DbtCliResource

    from orchestration.processing.project import DBT_DIR, dbt_project, dbt_resource

    dbt_project()  # the manifest, and the parse state `dbt parse` leaves in target/
    # That parse's profile, so its state stays valid and neither invocation parses again (ls opens no connection).
    monkeypatch.setenv("DMP_DBT_DUCKDB_PATH", str(DBT_DIR / "target" / "parse.duckdb"))
    ours = dbt_resource()
    theirs = DbtCliResource(
        project_dir=ours.project_dir, profiles_dir=ours.profiles_dir, dbt_executable=ours.dbt_executable
    )
    args = ["ls", "--select", "config.materialized:view", "--resource-type", "model"]
    for name in ("ours", "theirs"):
        (tmp_path / name).mkdir()
        shutil.copyfile(DBT_DIR / "target" / "partial_parse.msgpack", tmp_path / name / "partial_parse.msgpack")
    mine = ours.cli(args, target_path=tmp_path / "ours").wait()
    assert mine.is_successful() and mine.adapter is None
    reference = theirs.cli(args, target_path=tmp_path / "theirs").wait()
    assert reference.is_successful() and reference.adapter is not None  # what the override saves
