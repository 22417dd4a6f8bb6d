"""Checks on the marts BI tools read: their Great Expectations suites and KPI anomalies."""

import datetime as dt

import dagster as dg
import pandas as pd

from lakehouse.quality import CheckOutcome, Suite, volume_anomaly
from orchestration.quality.checks import (
    EXPECTATIONS,
    VOLUME_ANOMALY,
    QualityResource,
    expectation_results,
    expectation_specs,
    platform_result,
    run_suite,
)
from orchestration.resources import WarehouseResource
from orchestration.storage.assets import WAREHOUSE_POOL


def build_mart_checks(suites: dict[str, Suite]) -> list[dg.AssetChecksDefinition]:
    checks = []
    for asset, suite in suites.items():
        if not asset.startswith("marts/"):
            continue
        key = dg.AssetKey(asset.split("/"))
        specs = expectation_specs(key, suite)
        if asset == "marts/kpi_daily":
            specs.append(dg.AssetCheckSpec(VOLUME_ANOMALY, asset=key, blocking=True,
                                           description="The last day's orders and net revenue vs the trailing 28 days."))
        checks.append(_mart_check(key, suite, specs))
    return checks


def _mart_check(key: dg.AssetKey, suite: Suite, specs: list[dg.AssetCheckSpec]) -> dg.AssetChecksDefinition:
    schema, table = key.path

    @dg.multi_asset_check(specs=specs, name=f"check_{table}", pool=WAREHOUSE_POOL,
                          description=f"Great Expectations suite {suite.name} on {schema}.{table}.")
    def _check(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, quality: QualityResource):
        with warehouse.connect(read_only=True) as con:
            frame = con.execute(f'select * from "{schema}"."{table}" '
                                f'using sample reservoir({suite.sample_rows} rows) repeatable (7)').df()
            total = con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]
            daily = (con.execute("select kpi_date, orders, net_revenue from marts.kpi_daily order by kpi_date").df()
                     if table == "kpi_daily" else None)
        outcome = run_suite(suite, frame, [], 0)
        outcome.rows_total = int(total)
        yield from expectation_results(key, suite, outcome, quality, context.run.run_id, None)
        if daily is not None:
            yield _kpi_anomaly(key, daily, quality, context.run.run_id)

    return _check


def _kpi_anomaly(key: dg.AssetKey, daily: pd.DataFrame, quality: QualityResource, run_id: str) -> dg.AssetCheckResult:
    """The latest day's orders and net revenue against the 28 days before it; the worse one counts."""
    config = quality.config()
    if daily.empty:
        return platform_result(key, VOLUME_ANOMALY, CheckOutcome(True, None, "no days yet"), quality, run_id, None)
    daily = daily.set_index(pd.to_datetime(daily["kpi_date"]).dt.date)
    last = daily.index.max()
    window = daily[(daily.index < last) & (daily.index >= last - dt.timedelta(days=config.volume_trailing_days))]
    outcomes = [volume_anomaly(window["orders"], float(daily.loc[last, "orders"]), config, f"orders on {last}"),
                volume_anomaly(window["net_revenue"].astype(float), float(daily.loc[last, "net_revenue"]), config,
                               f"net revenue on {last}")]
    rank = {"red": 2, "yellow": 1}
    worst = max(outcomes, key=lambda o: rank.get(o.level or "", 0))
    return platform_result(key, VOLUME_ANOMALY, worst, quality, run_id, str(last))


__all__ = ["build_mart_checks", "EXPECTATIONS"]
