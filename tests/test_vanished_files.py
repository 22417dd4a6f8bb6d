"""A day that had rows is never replaced by an empty partition without an explicit decision."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil

import dagster as dg
import duckdb
import pytest

from core.collection import PartitionEmptied, collect_partition, partition_path
from core.settings import Settings
from orchestration.definitions import build_definitions
from tests.conftest import PROJECT_ROOT

DAY = dt.date(2026, 1, 10)
GOOD = PROJECT_ROOT / "tests" / "data" / "hostile" / "good" / "orders"


def _rows(lake, source="orders") -> int:
    return duckdb.sql(f"select count(*) from '{partition_path(lake / 'raw', source, DAY)}'").fetchall()[0][0]


@pytest.mark.parametrize("how", ["file deleted", "file emptied to its header"])
def test_a_vanished_export_does_not_wipe_its_day(contracts, tmp_path, how):
    contract = dataclasses.replace(contracts["orders"], optional=True)
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    shutil.copytree(GOOD, landing / "orders")
    collect_partition(contract, DAY, landing, lake)
    assert _rows(lake) == 2
    export = landing / "orders" / f"{DAY}.csv"
    if how == "file deleted":
        export.unlink()
    else:
        export.write_text(export.read_text().splitlines()[0] + "\n")

    with pytest.raises(PartitionEmptied) as info:
        collect_partition(contract, DAY, landing, lake)
    assert "holds 2 row(s) from ['2026-01-10.csv']" in str(info.value) and "allow_empty" in str(info.value)
    assert _rows(lake) == 2, "the day keeps its rows"

    result = collect_partition(contract, DAY, landing, lake, allow_empty=True)
    assert result.rows_read == 0 and _rows(lake) == 0, "with allow_empty the day is recorded empty"


def test_an_absent_optional_source_still_yields_empty_partitions(contracts, tmp_path):
    result = collect_partition(contracts["users"], DAY, tmp_path / "landing", tmp_path / "lake")
    assert result.rows_read == 0 and _rows(tmp_path / "lake", "users") == 0


def test_the_collection_asset_fails_the_day_and_takes_allow_empty_from_run_config(tmp_path):
    landing = tmp_path / "landing"
    shutil.copytree(GOOD, landing / "orders")
    settings = Settings(
        data_dir=tmp_path / "data", landing_dir=landing, partitions_start=DAY, demo_start=DAY, demo_end=DAY
    )
    defs = build_definitions(settings)
    job = defs.resolve_job_def("platform_daily")
    key = dg.AssetKey(["lake", "orders"])
    instance = dg.DagsterInstance.ephemeral()

    def run(run_config=None):
        return job.execute_in_process(
            instance=instance,
            partition_key=DAY.isoformat(),
            asset_selection=[key],
            run_config=run_config,
            raise_on_error=False,
        )

    assert run().success
    export = landing / "orders" / f"{DAY}.csv"
    export.write_text(export.read_text().splitlines()[0] + "\n")  # the day's export is empty now
    failed = run()
    assert not failed.success
    failure = next(e for e in failed.all_events if e.is_step_failure)
    assert "holds 2 row(s)" in failure.event_specific_data.error.message or "holds 2 row(s)" in str(
        failure.event_specific_data.error
    )
    assert _rows(settings.lake_dir) == 2
    emptied = run({"ops": {"lake__orders": {"config": {"allow_empty": True}}}})
    assert emptied.success and _rows(settings.lake_dir) == 0


def test_an_absent_source_over_a_range_writes_what_a_day_by_day_collection_writes(contracts, tmp_path):
    """The fast path for an optional source without exports gives the same files as collecting each
    day on its own, leaves identical days untouched, and still refuses to empty a day with rows."""
    from core.collection import collect_partitions

    days = [DAY + dt.timedelta(days=i) for i in range(3)]
    one_by_one = tmp_path / "one_by_one"
    for day in days:
        collect_partition(contracts["users"], day, tmp_path / "landing", one_by_one)
    ranged = tmp_path / "ranged"
    results = collect_partitions(contracts["users"], days, tmp_path / "landing", ranged)
    assert [d for d, _ in results] == days and all(r.rows_read == 0 for _, r in results)
    for kind in ("raw", "quarantine"):
        for day in days:
            fast, slow = partition_path(ranged / kind, "users", day), partition_path(one_by_one / kind, "users", day)
            assert (
                duckdb.sql(f"describe select * from '{fast}'").fetchall()
                == duckdb.sql(f"describe select * from '{slow}'").fetchall()
            )
    written = partition_path(ranged / "raw", "users", days[0]).stat().st_mtime_ns
    collect_partitions(contracts["users"], days, tmp_path / "landing", ranged)
    assert partition_path(ranged / "raw", "users", days[0]).stat().st_mtime_ns == written, "untouched"

    contract = dataclasses.replace(contracts["orders"], optional=True)
    lake = tmp_path / "lake"
    shutil.copytree(GOOD, tmp_path / "orders_landing" / "orders")
    collect_partition(contract, DAY, tmp_path / "orders_landing", lake)
    shutil.rmtree(tmp_path / "orders_landing" / "orders")
    (day, outcome), *_ = collect_partitions(contract, [DAY], tmp_path / "orders_landing", lake)
    assert isinstance(outcome, PartitionEmptied) and _rows(lake) == 2
