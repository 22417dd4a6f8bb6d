"""The processing layer: dbt marts built by real Dagster runs, checked against an independent
pandas computation, for idempotency, incremental = full refresh, and the absence of PII."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from core.settings import Settings
from orchestration.definitions import PLATFORM_JOB, build_definitions
from orchestration.partitions import range_tags
from simulator import DefectRates, SimulationConfig, simulate
from tests import reference_kpis as ref
from tests.conftest import assets_in_groups

pytestmark = pytest.mark.slow  # every test here runs Dagster and dbt

START, END = dt.date(2026, 1, 1), dt.date(2026, 2, 28)
# Defects whose handling the reference computation reproduces: duplicates, broken lines, late
# events, timestamps in another format or timezone.
DEFECTS = DefectRates(
    duplicate=0.01,
    malformed=0.004,
    missing_required=0,
    bad_timestamp=0,
    unknown_category=0,
    out_of_range=0,
    alt_timestamp_format=0.05,
    other_timezone=0.03,
    late_arrival=0.03,
)
MARTS = [
    "kpi_daily",
    "kpi_channel_daily",
    "kpi_inventory_daily",
    "segment_daily",
    "user_profile",
    "kpi_retention_cohorts",
    "kpi_clv",
    "kpi_nps",
    "kpi_monthly",
]


def _run(settings: Settings, instance, start: dt.date, end: dt.date, full_refresh: bool = False):
    """A run of the platform job over [start, end], up to the processing layer (the marts these tests
    read; the service and application layers have their own tests)."""
    defs = build_definitions(settings)
    job = defs.resolve_job_def(PLATFORM_JOB)
    selection = assets_in_groups(defs, ("collection", "storage", "processing"))
    run_config = {"ops": {"dbt_daily": {"config": {"full_refresh": True}}}} if full_refresh else None
    result = job.execute_in_process(
        instance=instance,
        tags=range_tags(start, end),
        run_config=run_config,
        asset_selection=selection,
        raise_on_error=False,
    )
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    return result


def _marts(warehouse: Path) -> dict[str, pd.DataFrame]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        out = {}
        for table in MARTS:
            df = con.execute(f"select * from marts.{table}").df()
            out[table] = df.sort_values(list(df.columns)).reset_index(drop=True)
        return out
    finally:
        con.close()


def _close(got, want, atol: float) -> None:
    """Equal within atol (nulls equal nulls); on failure, list the rows that differ."""
    got = pd.Series(np.asarray(got, dtype=float), index=getattr(want, "index", None))
    want = pd.Series(np.asarray(want, dtype=float), index=got.index)
    bad = ~(np.isclose(got, want, atol=atol, rtol=0) | (got.isna() & want.isna()))
    assert not bad.any(), pd.DataFrame({"got": got[bad], "want": want[bad]}).head(10).to_string()


def _assert_same(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    for table in MARTS:
        pd.testing.assert_frame_equal(a[table], b[table], check_exact=False, rtol=1e-12, obj=table)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("processing")
    simulate(
        SimulationConfig(start=START, end=END, seed=21, scale=0.5, defects=DEFECTS), root / "landing", root / "truth"
    )
    settings = Settings(
        data_dir=root / "data", landing_dir=root / "landing", partitions_start=START, demo_start=START, demo_end=END
    )
    instance = dg.DagsterInstance.ephemeral()
    result = _run(settings, instance, START, END)
    return settings, instance, result, _marts(settings.warehouse_path)


@pytest.fixture(scope="module")
def reference(built):
    settings = built[0]
    landing = settings.landing_dir
    orders, events = ref.load_orders(landing), ref.load_events(landing)
    return {
        "orders": orders,
        "events": events,
        "users": ref.load_users(landing),
        "spend": ref.load_spend(landing),
        "daily": ref.daily_kpis(orders, events),
    }


def test_dbt_tests_ran_as_asset_checks_and_passed(built):
    _, _, result, _ = built
    checks = [e for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    platform = {
        "quarantine_rate",
        "schema_drift",
        "volume_anomaly",
        "freshness",
        "expectations_red",
        "expectations_yellow",
        "expectations_blue",
    }
    dbt_layers = {"staging", "intermediate", "marts", "reference"}
    dbt_checks = [
        c.event_specific_data
        for c in checks
        if c.event_specific_data.check_name not in platform and c.event_specific_data.asset_key.path[0] in dbt_layers
    ]
    assert len(dbt_checks) > 40
    assert [c.check_name for c in dbt_checks if not c.passed] == []
    # The singular tests (each reads several models) are checks of the mart they vouch for, not observations.
    owners = {c.check_name: c.asset_key.to_user_string() for c in dbt_checks}
    assert owners["assert_kpi_daily_net_revenue_matches_order_lines"] == "marts/kpi_daily"
    assert owners["assert_cohort_sizes_add_up_to_first_orders"] == "marts/kpi_retention_cohorts"
    assert not [e for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION"]
    blocking = [
        c.event_specific_data.check_name
        for c in checks
        if not c.event_specific_data.passed and c.event_specific_data.severity == dg.AssetCheckSeverity.ERROR
    ]
    assert blocking == []
    mats = {e.asset_key.to_user_string() for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"}
    assert {f"marts/{m}" for m in MARTS} <= mats


def test_marts_carry_row_counts_and_schemas(built):
    settings, instance, _, marts = built
    record = instance.fetch_materializations(dg.AssetKey(["marts", "kpi_daily"]), limit=1).records[0]
    metadata = record.asset_materialization.metadata
    assert metadata["dagster/row_count"].value == len(marts["kpi_daily"])
    names = [c.name for c in metadata["dagster/column_schema"].schema.columns]
    assert names[:3] == ["kpi_date", "gross_revenue", "discounts"]
    # The whole table's figures go on the run's last day only; the other days stay small.
    earlier = instance.fetch_materializations(dg.AssetKey(["marts", "kpi_daily"]), limit=1000).records[1:]
    assert earlier and all("dagster/column_schema" not in r.asset_materialization.metadata for r in earlier)
    assert all(len(str(r.asset_materialization.metadata)) < 2048 for r in earlier)


def test_marts_carry_column_lineage_through_the_sql(built):
    """Column lineage from the compiled SQL: kpi_daily's net revenue comes from the order lines'
    net amount; a mart reading an ephemeral model is traced through it to what it reads."""
    _, instance, _, _ = built

    def lineage(*key):
        record = instance.fetch_materializations(dg.AssetKey(list(key)), limit=1).records[0]
        return {
            column: {(d.asset_key.to_user_string(), d.column_name) for d in deps}
            for column, deps in record.asset_materialization.metadata[
                "dagster/column_lineage"
            ].value.deps_by_column.items()
        }

    daily = lineage("marts", "kpi_daily")
    assert ("intermediate/int_order_lines", "net_amount") in daily["net_revenue"]
    cohorts = lineage("marts", "kpi_retention_cohorts")
    # int_first_orders is ephemeral: the cohorts' lineage runs through it to the customer order days.
    sources = {asset for deps in cohorts.values() for asset, _ in deps}
    assert "intermediate/int_first_orders" not in sources and "intermediate/int_customer_order_days" in sources


def test_headline_daily_kpis_equal_pandas(built, reference):
    daily = built[3]["kpi_daily"].set_index("kpi_date")
    daily.index = pd.to_datetime(daily.index)
    want = reference["daily"]
    assert list(daily.index) == list(want.index)
    cents = lambda s: (s.astype(float) * 100).round().astype(np.int64)  # noqa: E731
    assert (cents(daily["gross_revenue"]) == want["gross"]).all()
    assert (cents(daily["discounts"]) == want["disc"]).all()
    assert (cents(daily["returns_amount"]) == want["refund"]).all()
    assert (cents(daily["net_revenue"]) == want["net"]).all()
    assert (daily["orders"] == want["orders"]).all()
    assert (daily["buyers"] == want["buyers"]).all()
    _close(daily["aov"], want["aov"], atol=1e-9)
    assert (daily["new_customers"] == want["new_customers"]).all()
    assert (daily["active_users"] == want["active_users"]).all()
    _close(daily["repurchase_rate"], want["repurchase_rate"], atol=1e-9)
    assert want["net"].sum() > 0 and want["refund"].sum() > 0, "the period has sales and returns"


def test_monthly_cohort_retention_equals_pandas(built, reference):
    cohorts = built[3]["kpi_retention_cohorts"]
    monthly = cohorts[cohorts["cohort_grain"] == "month"].copy()
    monthly["cohort_start"] = pd.to_datetime(monthly["cohort_start"])
    want = ref.monthly_retention(reference["orders"])
    merged = want.merge(
        monthly, left_on=["cohort", "period"], right_on=["cohort_start", "periods_since"], how="outer", indicator=True
    )
    assert (merged["_merge"] == "both").all()
    assert (merged["size"] == merged["cohort_size"]).all()
    assert (merged["active"] == merged["active_customers"]).all()
    _close(merged["retention_rate"], merged["retention"], atol=1e-9)
    assert len(merged) == 3  # January: periods 0 and 1; February: period 0


def test_cac_and_roas_for_paid_search_equal_pandas(built, reference):
    channel = built[3]["kpi_channel_daily"]
    got = channel[channel["channel"] == "paid_search"].set_index("kpi_date")
    got.index = pd.to_datetime(got.index)
    want = ref.channel_cac_roas(
        reference["orders"], reference["events"], reference["users"], reference["spend"], "paid_search"
    )
    got = got.reindex(want.index)
    assert ((got["spend"].astype(float) * 100).round().astype(np.int64) == want["spend"]).all()
    assert (got["new_customers"] == want["new_customers"]).all()
    _close(got["cac"], want["cac"], atol=1e-9)
    assert (
        (got["revenue_last_touch"].astype(float) * 100).round().astype(np.int64) == want["revenue_last_touch"]
    ).all()
    _close(got["roas"], want["roas"], atol=1e-9)
    assert want["revenue_last_touch"].sum() > 0


def test_profile_stage_agrees_with_segment_daily_on_the_last_day(built):
    marts = built[3]
    profile = marts["user_profile"]
    segments = marts["segment_daily"]
    last = segments[segments["segment_date"] == segments["segment_date"].max()].set_index("customer_id")
    buyers = profile[profile["lifecycle_stage"] != "prospect"].set_index("customer_id")
    assert len(buyers) == len(last)
    assert (buyers["lifecycle_stage"] == last.loc[buyers.index, "lifecycle_stage"]).all()
    moves = segments[segments["changed"]]
    assert {"new", "retained", "at_risk"} <= set(segments["lifecycle_stage"])
    assert len(moves) > 0


def test_no_mart_contains_an_email_address_or_phone_number(built):
    email = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
    phone = re.compile(r"\+\d{1,3}[\s-]?\d{8,12}\b|\b1[3-9]\d{9}\b")
    con = duckdb.connect(str(built[0].warehouse_path), read_only=True)
    try:
        columns = con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where table_schema in ('intermediate', 'marts') and data_type = 'VARCHAR'"
        ).fetchall()
        assert len(columns) > 20
        for schema, table, column in columns:
            values = [
                v
                for (v,) in con.execute(
                    f'select distinct "{column}" from {schema}.{table} where "{column}" is not null'
                ).fetchall()
            ]
            bad = [v for v in values if email.search(v) or phone.search(v)]
            assert bad == [], f"{schema}.{table}.{column} holds PII: {bad[:3]}"
        # The raw layer does hold PII: the scan above would have found it there.
        raw = [v for (v,) in con.execute("select email from raw.users limit 5").fetchall()]
        assert all(email.search(v) for v in raw if v)
    finally:
        con.close()


def test_materialising_days_again_leaves_the_same_marts(built):
    settings, instance, _, first = built
    # A range in the middle (one dbt invocation over three windows' worth of days) and the last
    # day alone (the daily path, with late rows re-read by the look-back): identical marts.
    # That daily runs appending new days equal a full refresh is the next test.
    _run(settings, instance, dt.date(2026, 2, 10), dt.date(2026, 2, 12))
    _assert_same(first, _marts(settings.warehouse_path))
    _run(settings, instance, END, END)
    _assert_same(first, _marts(settings.warehouse_path))


def test_incremental_build_day_by_day_equals_full_refresh(tmp_path):
    start, end = dt.date(2026, 3, 1), dt.date(2026, 3, 11)
    simulate(
        SimulationConfig(start=start, end=end, seed=5, scale=0.3, defects=DEFECTS),
        tmp_path / "landing",
        tmp_path / "truth",
    )
    settings = Settings(
        data_dir=tmp_path / "data",
        landing_dir=tmp_path / "landing",
        partitions_start=start,
        demo_start=start,
        demo_end=end,
    )
    with dg.DagsterInstance.ephemeral() as instance:
        _run(settings, instance, start, dt.date(2026, 3, 9))
        for i in range(10, 12):
            _run(settings, instance, dt.date(2026, 3, i), dt.date(2026, 3, i))
        daily = _marts(settings.warehouse_path)
        _run(settings, instance, start, end, full_refresh=True)
        _assert_same(daily, _marts(settings.warehouse_path))
