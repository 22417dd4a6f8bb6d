"""Checks on the marts BI tools read: their Great Expectations suites and the `kpi_daily` anomaly."""

import dagster as dg

from core.alerts.kpi_rules import kpi_daily_anomaly
from core.quality import AlertingConfig, Suite, validate
from core.storage.reads import sample, table_rows
from orchestration.names import WAREHOUSE_POOL
from orchestration.quality.checks import VOLUME_ANOMALY, expectation_results, expectation_specs, platform_result
from orchestration.resources import AlertsResource, WarehouseResource

KPI_DAILY = dg.AssetKey(["marts", "kpi_daily"])


def build_mart_check(key: dg.AssetKey, suite: Suite, alerting: AlertingConfig) -> dg.AssetChecksDefinition:
    schema, table = key.path
    specs = expectation_specs(key, suite)
    anomaly = key == KPI_DAILY
    if anomaly:
        specs.append(
            dg.AssetCheckSpec(
                VOLUME_ANOMALY,
                asset=key,
                blocking=True,
                description="The last day's orders and net revenue vs the trailing 28 days.",
            )
        )

    @dg.multi_asset_check(
        specs=specs,
        name=f"check_{table}",
        pool=WAREHOUSE_POOL,
        description=f"Great Expectations suite {suite.name} on {schema}.{table}.",
    )
    def _check(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, alerts: AlertsResource):
        with warehouse.connect(read_only=True) as con:
            frame = sample(con, schema, table, suite.sample_rows)
            total = table_rows(con, schema, table)
            daily = (
                con.execute("select kpi_date, orders, net_revenue from marts.kpi_daily order by kpi_date").df()
                if anomaly
                else None
            )
        outcome = validate(suite, frame)
        outcome.rows_total = total
        yield from expectation_results(key, suite, outcome, alerts, context.run.run_id, None)
        if daily is not None:
            result, day = kpi_daily_anomaly(daily, alerting)
            yield platform_result(key, VOLUME_ANOMALY, result, alerts, context.run.run_id, day)

    return _check
