"""The KPI dashboard's data: what the page shows, read from the serving snapshot.

The dashboard is one static, self-contained HTML page for managers, built from the serving snapshot.

It reads the snapshot (never the warehouse) read-only and draws every chart as inline SVG here,
in Python: no CDN, no external script or style sheet, nothing fetched when the page opens. A few
lines of inline JavaScript only add hover tooltips. Sections:

- KPI tiles for the latest month and monthly trends against their targets (`marts.kpi_monthly`,
  `reference.kpi_targets`);
- paid channels' ROAS and CAC over the last 30 days (`marts.kpi_channel_daily`);
- the monthly cohort retention heat map (`marts.kpi_retention_cohorts`);
- lifecycle segment sizes, their trend and the moves between stages (`marts.segment_daily`);
- the demand forecast against actual units (`application.demand_forecast`, `marts.kpi_inventory_daily`
  or `marts.kpi_daily`), or "no forecast yet";
- the alerts (`ops.alerts`), the latest per check and partition, grouped by level, and the A/B test results
  (`application.ab_test_results`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

CHANNEL_DAYS = 30
SEGMENT_MOVE_DAYS = 30


@dataclass
class DashboardData:
    """What the page shows, read from one snapshot (frames may be empty, forecast/ab may be None)."""

    published_at: dt.datetime | None
    latest_day: dt.date | None
    kpi_monthly: pd.DataFrame
    targets: pd.DataFrame
    channels: pd.DataFrame
    cohorts: pd.DataFrame
    segment_sizes: pd.DataFrame
    segment_trend: pd.DataFrame
    segment_moves: pd.DataFrame
    forecast: pd.DataFrame | None
    actual_units: pd.DataFrame
    alerts: pd.DataFrame
    ab_results: pd.DataFrame | None


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {
        f"{s}.{t}" for s, t in con.execute("select table_schema, table_name from information_schema.tables").fetchall()
    }


def _frame(
    con: duckdb.DuckDBPyConnection, tables: set[str], needs: Sequence[str], sql: str, params: list | None = None
) -> pd.DataFrame:
    """Run `sql` when every table it needs is in the snapshot; an empty frame otherwise."""
    if not set(needs) <= tables:
        return pd.DataFrame()
    return con.execute(sql, params or []).df()


def load_dashboard_data(snapshot: Path) -> DashboardData:
    """Read everything the page shows from the serving snapshot (opened read-only)."""
    if not Path(snapshot).exists():
        raise FileNotFoundError(
            f"serving snapshot {snapshot} does not exist: materialise service/serving_snapshot first"
        )
    with duckdb.connect(str(snapshot), read_only=True) as con:
        t = _tables(con)
        meta = _frame(con, t, ["meta.snapshot"], "select max(published_at) as published_at from meta.snapshot")
        latest = _frame(con, t, ["marts.kpi_daily"], "select max(kpi_date) as d from marts.kpi_daily")
        latest_day = latest["d"].iloc[0] if len(latest) and pd.notna(latest["d"].iloc[0]) else None
        latest_day = pd.Timestamp(latest_day).date() if latest_day is not None else None
        seg_latest = _frame(con, t, ["marts.segment_daily"], "select max(segment_date) as d from marts.segment_daily")
        seg_day = seg_latest["d"].iloc[0] if len(seg_latest) else None
        forecast = None
        if "application.demand_forecast" in t:
            columns = {
                r[0]
                for r in con.execute(
                    "select column_name from information_schema.columns where table_schema = 'application' "
                    "and table_name = 'demand_forecast'"
                ).fetchall()
            }
            expected = "expected_units" if "expected_units" in columns else "p50"  # older tables: no mean
            forecast = con.execute(f"""
                with latest as (
                    select *, row_number() over (partition by product_id, forecast_date
                                                 order by generated_at desc) as rn
                    from application.demand_forecast
                )
                select forecast_date, sum(p10) as p10, sum(p50) as p50, sum(p90) as p90,
                       sum({expected}) as expected, count(*) as products,
                       max(model_version) as model_version, max(method) as method, max(generated_at) as generated_at
                from latest where rn = 1 group by forecast_date order by forecast_date""").df()
            if forecast.empty:
                forecast = None
        return DashboardData(
            published_at=pd.Timestamp(meta["published_at"].iloc[0]).to_pydatetime()
            if len(meta) and pd.notna(meta["published_at"].iloc[0])
            else None,
            latest_day=latest_day,
            kpi_monthly=_frame(
                con,
                t,
                ["marts.kpi_monthly"],
                "select kpi_month, kpi, value, target, direction, gap, meets_target, "
                "months_missed_in_a_row from marts.kpi_monthly order by kpi, kpi_month",
            ),
            targets=_frame(con, t, ["reference.kpi_targets"], "select * from reference.kpi_targets"),
            channels=_frame(
                con,
                t,
                ["marts.kpi_channel_daily"],
                f"""
                select channel, sum(spend) as spend, sum(new_customers) as new_customers,
                       sum(revenue_last_touch) as revenue_last_touch,
                       cast(sum(spend) / nullif(sum(new_customers), 0) as double) as cac,
                       cast(sum(revenue_last_touch) / nullif(sum(spend), 0) as double) as roas
                from marts.kpi_channel_daily
                where kpi_date > (select max(kpi_date) from marts.kpi_channel_daily) - interval {CHANNEL_DAYS} day
                group by channel having sum(spend) > 0 order by channel""",
            ),
            cohorts=_frame(
                con,
                t,
                ["marts.kpi_retention_cohorts"],
                "select cohort_start, periods_since, cohort_size, active_customers, retention_rate "
                "from marts.kpi_retention_cohorts where cohort_grain = 'month' "
                "order by cohort_start, periods_since",
            ),
            segment_sizes=_frame(
                con,
                t,
                ["marts.segment_daily"],
                "select lifecycle_stage, count(*) as customers from marts.segment_daily "
                "where segment_date = ? group by 1",
                [seg_day],
            ),
            segment_trend=_frame(
                con,
                t,
                ["marts.segment_daily"],
                """
                select segment_date, lifecycle_stage, count(*) as customers from marts.segment_daily
                where (date_diff('day', segment_date, (select max(segment_date) from marts.segment_daily)) % 7) = 0
                group by 1, 2 order by 1, 2""",
            ),
            segment_moves=_frame(
                con,
                t,
                ["marts.segment_daily"],
                f"""
                select previous_stage, lifecycle_stage, count(*) as moves from marts.segment_daily
                where changed and previous_stage is not null
                  and segment_date > (select max(segment_date) from marts.segment_daily) - interval {SEGMENT_MOVE_DAYS} day
                group by 1, 2 order by 1, 2""",
            ),
            forecast=forecast,
            actual_units=_actual_units(con, t, forecast),
            alerts=_frame(
                con,
                t,
                ["ops.alerts"],
                # The latest state of each check on each partition: its newest alert, and how often it was raised.
                """
                select alert_id, created_at, level, asset, check_name, partition, message, raised, first_raised_at
                from (
                    select *, count(*) over w as raised, min(created_at) over w as first_raised_at,
                           row_number() over (w order by alert_id desc) as newest
                    from ops.alerts
                    window w as (partition by asset, check_name, partition)
                )
                where newest = 1
                order by created_at desc, alert_id desc""",
            ),
            ab_results=_frame(
                con,
                t,
                ["application.ab_test_results"],
                "select * from application.ab_test_results order by experiment_id, variant",
            )
            if "application.ab_test_results" in t
            else None,
        )


def _actual_units(con: duckdb.DuckDBPyConnection, t: set[str], forecast: pd.DataFrame | None) -> pd.DataFrame:
    """Units sold per day: per product from the inventory mart when it has rows, else the daily total."""
    if "marts.kpi_inventory_daily" in t and con.execute("select count(*) from marts.kpi_inventory_daily").fetchone()[0]:
        sql = "select kpi_date as day, sum(units_sold) as units from marts.kpi_inventory_daily group by 1 order by 1"
        if forecast is not None:  # the products the forecast covers
            sql = (
                "select kpi_date as day, sum(units_sold) as units from marts.kpi_inventory_daily "
                "where product_id in (select product_id from application.demand_forecast) group by 1 order by 1"
            )
        return con.execute(sql).df()
    return _frame(
        con, t, ["marts.kpi_daily"], "select kpi_date as day, units_sold as units from marts.kpi_daily order by 1"
    )
