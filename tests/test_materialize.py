"""Real Dagster runs of collection and storage over several partitions, as one run per range."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from core.settings import Settings
from orchestration.definitions import PLATFORM_JOB, build_definitions
from orchestration.partitions import range_tags
from simulator import DefectRates, SimulationConfig, simulate
from tests.conftest import PROJECT_ROOT, assets_in_groups

pytestmark = pytest.mark.slow  # every test here runs Dagster and dbt

START, END = dt.date(2026, 1, 3), dt.date(2026, 1, 6)


def _settings(root: Path, landing: Path) -> Settings:
    return Settings(
        data_dir=root, landing_dir=landing, partitions_start=dt.date(2026, 1, 1), demo_start=START, demo_end=END
    )


def _run(
    settings: Settings,
    start: dt.date,
    end: dt.date,
    instance: dg.DagsterInstance,
    groups: tuple[str, ...] | None = ("collection", "storage"),
):
    """One run of the platform job over [start, end]: its collection and storage assets (what these
    tests are about), or every asset with ``groups=None``."""
    defs = build_definitions(settings)
    job = defs.resolve_job_def(PLATFORM_JOB)
    selection = assets_in_groups(defs, groups) if groups else None
    return job.execute_in_process(
        instance=instance, tags=range_tags(start, end), asset_selection=selection, raise_on_error=False
    )


def _snapshot(warehouse: Path) -> dict[str, tuple[int, str]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'raw' order by 1"
            ).fetchall()
        ]
        out = {}
        for t in tables:
            n, digest = con.execute(
                f"select count(*), md5(coalesce(string_agg(r::VARCHAR, '|' order by r::VARCHAR), '')) "
                f'from (select t as r from raw."{t}" t)'
            ).fetchall()[0]
            out[t] = (n, digest)
        return out
    finally:
        con.close()


@pytest.fixture()
def platform(sim_month, tmp_path):
    landing = tmp_path / "landing"
    shutil.copytree(sim_month / "landing", landing)
    return _settings(tmp_path / "data", landing)


def test_range_run_is_one_run_and_idempotent(platform):
    with dg.DagsterInstance.ephemeral() as instance:
        first = _run(platform, START, END, instance)
        assert first.success
        runs = instance.get_run_records()
        assert len(runs) == 1, "a range is materialised as a single run"
        mats = instance.fetch_materializations(dg.AssetKey(["raw", "orders"]), limit=100).records
        assert sorted(m.partition_key for m in mats) == [str(START + dt.timedelta(days=i)) for i in range(4)]
        snap = _snapshot(platform.warehouse_path)
        assert snap["orders"][0] > 0 and snap["events"][0] > 0 and len(snap) == 9

        # Warehouse rows equal lake rows, day by day.
        con = duckdb.connect(str(platform.warehouse_path), read_only=True)
        wh = dict(con.execute("select dt::VARCHAR, count(*) from raw.orders group by 1").fetchall())
        con.close()
        lake = dict(
            duckdb.sql(
                f"select dt::VARCHAR, count(*) from read_parquet('{platform.lake_dir}/raw/orders/*/*.parquet', "
                f"hive_partitioning=true) group by 1"
            ).fetchall()
        )
        assert wh == lake

        # Each day's materialisation carries that day's own figures, not the range's.
        for key in (["lake", "orders"], ["raw", "orders"]):
            mats = instance.fetch_materializations(dg.AssetKey(key), limit=100).records
            per_day = {m.partition_key: m.asset_materialization.metadata for m in mats}
            assert {d: md["dagster/row_count"].value for d, md in per_day.items()} == lake, key
            assert all(len(str(md)) < 2048 for md in per_day.values()), key
        quarantined = dict(
            duckdb.sql(
                f"select dt::VARCHAR, count(*) from read_parquet('{platform.lake_dir}/quarantine/orders/*/*.parquet', "
                f"hive_partitioning=true) group by 1"
            ).fetchall()
        )
        lake_days = {
            m.partition_key: m.asset_materialization.metadata
            for m in instance.fetch_materializations(dg.AssetKey(["lake", "orders"]), limit=100).records
        }
        assert {d: md["rows_quarantined"].value for d, md in lake_days.items()} == {
            d: quarantined.get(d, 0) for d in lake_days
        }
        assert all(
            md["rows_read"].value == md["dagster/row_count"].value + md["rows_quarantined"].value
            for md in lake_days.values()
        )

        second = _run(platform, START, END, instance)
        assert second.success
        assert _snapshot(platform.warehouse_path) == snap, "materialising again leaves the same rows"


def test_rerun_after_fixing_a_file_replaces_what_the_bad_file_produced(platform):
    day = dt.date(2026, 1, 4)
    orders_file = platform.landing_dir / "orders" / f"{day}.csv"
    original = orders_file.read_text()
    with dg.DagsterInstance.ephemeral() as instance:
        assert _run(platform, START, END, instance).success
        good = _snapshot(platform.warehouse_path)

        lines = original.splitlines(keepends=True)
        header = lines[0].rstrip("\n").split(",")
        qty = header.index("quantity")
        broken = 0
        for i in range(1, len(lines)):
            fields = lines[i].rstrip("\n").split(",")
            if len(fields) == len(header) and fields[qty].lstrip("-").isdigit() and broken < 1:
                fields[qty] = "many"
                lines[i] = ",".join(fields) + "\n"
                broken += 1
        orders_file.write_text("".join(lines))
        assert _run(platform, day, day, instance).success
        bad = _snapshot(platform.warehouse_path)
        assert bad["orders"][0] == good["orders"][0] - 1
        assert bad["events"] == good["events"], "other sources are untouched"

        orders_file.write_text(original)
        assert _run(platform, day, day, instance).success
        assert _snapshot(platform.warehouse_path) == good


def test_a_broken_file_fails_its_partition_and_loses_nothing(platform):
    with dg.DagsterInstance.ephemeral() as instance:
        assert _run(platform, START, END, instance).success
        before = _snapshot(platform.warehouse_path)
        broken = platform.landing_dir / "orders" / "2026-01-05.csv"
        broken.write_bytes(broken.read_bytes()[:-20])  # cut short: no trailing newline
        result = _run(platform, START, END, instance)
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        text = str(failure.event_specific_data.error)
        assert "2026-01-05.csv" in text and "truncated" in text and "re-export" in text
        assert "1 orders partition(s)" in text
        assert _snapshot(platform.warehouse_path) == before, "nothing already loaded is lost"


def test_orders_only_deployment_builds_every_partition(tmp_path):
    landing = tmp_path / "landing"
    simulate(
        SimulationConfig(start=START, end=END, seed=2, scale=0.3, defects=DefectRates(), sources=("orders",)),
        landing,
        tmp_path / "truth",
    )
    settings = _settings(tmp_path / "data", landing)
    with dg.DagsterInstance.ephemeral() as instance:
        assert _run(settings, START, END, instance, groups=None).success
    snap = _snapshot(settings.warehouse_path)
    assert snap["orders"][0] > 0
    assert all(snap[s][0] == 0 for s in snap if s != "orders"), "optional sources give empty partitions"

    # Every mart builds; metrics that need a missing source are null, not zero or wrong.
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        daily = con.execute(
            "select count(*), sum(net_revenue), count(active_users), count(conversion_rate), "
            "count(aov) from marts.kpi_daily"
        ).fetchall()[0]
        assert daily[0] == 4 and daily[1] > 0 and daily[2] == 0 and daily[3] == 0 and daily[4] == 4
        channels = con.execute("select distinct channel, spend, roas, cac from marts.kpi_channel_daily").fetchall()
        assert {c[0] for c in channels} == {"unknown"} and all(
            c[1] == 0 and c[2] is None and c[3] is None for c in channels
        )
        profile = con.execute(
            "select count(*), count(distinct acquisition_channel), count(scene_affinity), "
            "count(latest_nps_score) from marts.user_profile"
        ).fetchall()[0]
        assert profile[0] > 0 and profile[1] == 1 and profile[2] == 0 and profile[3] == 0
        assert con.execute("select count(*) from marts.kpi_inventory_daily").fetchall()[0][0] == 0
        assert con.execute("select count(*) from marts.kpi_nps").fetchall()[0][0] == 0
        monthly = dict(con.execute("select kpi, value from marts.kpi_monthly").fetchall())
        assert monthly["net_revenue"] > 0 and monthly["roas"] is None
        # Without events, a month's active customers are its buyers (counted independently here).
        active = dict(
            con.execute("select kpi_month, value from marts.kpi_monthly where kpi = 'active_users'").fetchall()
        )
        buyers = dict(
            con.execute(
                "select date_trunc('month', recorded_at)::date, count(distinct customer_id)::double from raw.orders "
                "where status = 'completed' and quantity > 0 and customer_id is not null group by 1"
            ).fetchall()
        )
        assert active == buyers
    finally:
        con.close()


def test_a_retail_export_with_returns_by_sign_gives_independently_computed_kpis(tmp_path):
    """examples/retail_export through every layer: no line ids, no status (returns by sign,
    cancellations by invoice prefix), three-decimal prices, wholesale quantities, float ids."""
    example = PROJECT_ROOT / "examples" / "retail_export"
    day = dt.date(2026, 1, 10)
    settings = Settings(
        data_dir=tmp_path / "data",
        landing_dir=example / "landing",
        mappings_dir=example / "mappings",
        partitions_start=day,
        demo_start=day,
        demo_end=day,
    )
    with dg.DagsterInstance.ephemeral() as instance:
        assert _run(settings, day, day, instance, groups=("collection", "storage", "processing")).success
    lines = pd.read_csv(example / "landing" / "orders" / f"{day}.csv", dtype=str)
    kept = lines[~lines["InvoiceNo"].str.startswith("C")]  # cancellations count neither way
    cents = Decimal("0.01")
    amount = [
        (Decimal(q) * Decimal(p)).quantize(cents, ROUND_HALF_UP) for q, p in zip(kept["Quantity"], kept["UnitPrice"])
    ]
    quantity = kept["Quantity"].astype(int)
    sales_amount = sum(a for a, q in zip(amount, quantity) if q > 0)
    returns_amount = -sum(a for a, q in zip(amount, quantity) if q < 0)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        got = con.execute(
            "select orders, units_sold, sales_amount, returns_amount, net_revenue from marts.kpi_daily"
        ).fetchall()
        customer = con.execute("select count(*) from marts.user_profile where customer_id = '17850'").fetchall()
        verdicts = con.execute("select count(target), count(meets_target) from marts.kpi_monthly").fetchall()
        profiles = con.execute("select sum(net_revenue) from marts.user_profile").fetchall()[0][0]
    orders = kept.loc[quantity > 0, "InvoiceNo"].nunique()
    assert got == [
        (orders, int(quantity[quantity > 0].sum()), sales_amount, returns_amount, sales_amount - returns_amount)
    ], "decimal-exact"
    assert customer == [(1,)], "the float id 17850.0 is customer 17850"
    guests = sum(a for a, c in zip(amount, kept["CustomerID"]) if pd.isna(c))
    assert profiles == sales_amount - returns_amount - guests, "profiles (returns-only customer included) reconcile"
    assert verdicts == [(0, 0)], "without a targets file no KPI is judged against someone else's targets"
