"""The batching SQLite event log stores what Dagster's own SQLite storage stores, row for row.

The same runs (a range run of three daily assets, then a range run whose second asset fails) go
into two instances: one on Dagster's SqliteEventLogStorage, one on the project's
BatchingSqliteEventLogStorage (the embedded profile). Their index databases must hold the same
events, tags and asset records, and the UI's partition status (materialised, failed) must agree.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from orchestration.instance import render_profile

PROJECT_ROOT = Path(__file__).resolve().parent.parent

RUNS = textwrap.dedent(
    """
    import json, os, sys
    import dagster as dg
    from dagster._core.storage.partition_status_cache import get_and_update_asset_status_cache_value

    parts = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_date="2026-01-31")

    def make(name, fail_on=None):
        @dg.asset(
            name=name, partitions_def=parts, code_version="v1", backfill_policy=dg.BackfillPolicy.single_run()
        )
        def _asset(context):
            if fail_on and fail_on in os.environ.get("FAIL", ""):
                raise RuntimeError("failing on purpose")
            for key in context.partition_keys:
                context.add_asset_metadata({"day_rows": int(key[-2:])}, partition_key=key)
            return dg.MaterializeResult(metadata={"days": len(context.partition_keys)})
        return _asset

    a = make("a")
    b = make("b", fail_on="b")
    c = make("c")
    defs = dg.Definitions(
        assets=[a, b, c],
        jobs=[dg.define_asset_job("all", selection="*", partitions_def=parts)],
    )
    job = defs.resolve_job_def("all")
    out = {}
    with dg.DagsterInstance.get() as instance:
        out["storage"] = type(instance.event_log_storage).__name__
        ranges = [("2026-01-01", "2026-01-20", ""), ("2026-01-15", "2026-01-30", "b")]
        for start, end, fail in ranges:
            os.environ["FAIL"] = fail
            job.execute_in_process(
                instance=instance,
                raise_on_error=False,
                tags={"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end},
            )
        status = {}
        for key in ("a", "b", "c"):
            value = get_and_update_asset_status_cache_value(instance, dg.AssetKey(key), parts)
            status[key] = {
                "materialized": sorted(value.deserialize_materialized_partition_subsets(parts).get_partition_keys()),
                "failed": sorted(value.deserialize_failed_partition_subsets(parts).get_partition_keys()),
            }
        out["status"] = status
    print(json.dumps(out))
    """
)


def _instance(home: Path, batching: bool) -> dict:
    home.mkdir(parents=True)
    config = "telemetry:\n  enabled: false\n"
    if batching:
        config = render_profile("sqlite", home)
    (home / "dagster.yaml").write_text(config)
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    env.pop("DAGSTER_EVENT_BATCH_SIZE", None)
    proc = subprocess.run(
        [sys.executable, "-c", RUNS], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _index(home: Path) -> dict:
    """The index database's contents without ids, run ids and times (they differ between instances)."""
    con = sqlite3.connect(home / "history" / "runs" / "index.db")
    events = []
    for event_type, asset_key, partition, body in con.execute(
        "select dagster_event_type, asset_key, partition, event from event_logs order by id"
    ):
        data = json.loads(body)
        specific = data["dagster_event"]["event_specific_data"] if asset_key else None  # run events: ids, times
        if specific and "materialization" in specific:
            specific = {
                "metadata": specific["materialization"]["metadata_entries"],
                "partition": specific["materialization"]["partition"],
                "tags": sorted(
                    k for k in specific["materialization"]["tags"] if not k.startswith("dagster/input_event_pointer")
                ),
            }
        events.append((event_type, asset_key, partition, json.dumps(specific, sort_keys=True, default=str)))
    tags = sorted(
        con.execute(
            "select asset_key, key, value from asset_event_tags where key not like '%event_pointer%'"
        ).fetchall()
    )
    runs: dict[str, int] = {}
    for (run_id,) in con.execute("select run_id from event_logs order by id"):
        runs.setdefault(run_id, len(runs))
    assets = []
    for key, last, last_run in con.execute(
        "select asset_key, last_materialization, last_run_id from asset_keys order by asset_key"
    ):
        record = json.loads(last)
        materialization = record["event_log_entry"]["dagster_event"]["event_specific_data"]["materialization"]
        assets.append((key, record["storage_id"], materialization["partition"], runs[last_run]))
    return {"events": events, "tags": tags, "assets": assets}


@pytest.fixture(scope="module")
def instances(tmp_path_factory):
    root = tmp_path_factory.mktemp("event_logs")
    plain = _instance(root / "plain", batching=False)
    batching = _instance(root / "batching", batching=True)
    return root, plain, batching


def test_the_embedded_profile_uses_the_batching_storage(instances):
    _, plain, batching = instances
    assert plain["storage"] == "SqliteEventLogStorage"
    assert batching["storage"] == "BatchingSqliteEventLogStorage"


def test_partition_status_is_the_same_failed_days_included(instances):
    _, plain, batching = instances
    assert batching["status"] == plain["status"]
    # The failed second run marks b's days it planned, the days a already had stay materialised.
    assert batching["status"]["b"]["failed"] == [f"2026-01-{d:02d}" for d in range(15, 31)]
    assert len(batching["status"]["a"]["materialized"]) == 30


def test_the_index_holds_the_same_rows(instances):
    root, _, _ = instances
    plain, batching = _index(root / "plain"), _index(root / "batching")
    assert len(batching["events"]) > 150
    assert batching == plain
    days = [e for e in batching["events"] if e[0] == "ASSET_MATERIALIZATION" and e[1] == '["a"]']
    assert [json.loads(e[3])["partition"] for e in days][:3] == ["2026-01-01", "2026-01-02", "2026-01-03"]
