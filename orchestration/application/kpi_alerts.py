"""The KPI alert asset: yellow and blue alerts from the marts, written to the alerts table."""

import dagster as dg
import pandas as pd

from core.alerts.kpi_rules import kpi_alerts
from core.quality import AlertingConfig
from orchestration.resources import AlertsResource, WarehouseResource

KPI_ALERTS_KEY = dg.AssetKey(["application", "kpi_alerts"])


def build_kpi_alerts_asset(alerting: AlertingConfig) -> dg.AssetsDefinition:
    @dg.asset(
        key=KPI_ALERTS_KEY,
        group_name="application",
        deps=[dg.AssetKey(["marts", "kpi_monthly"]), dg.AssetKey(["staging", "stg_feedback__tickets"])],
        kinds={"python"},
        owners=["team:operations"],
        code_version="kpi-alerts-v1",
        backfill_policy=dg.BackfillPolicy.single_run(),
        description="KPI alerts: yellow for a KPI below target 3 months running or a complaint spike, "
        "blue for minor misses.",
    )
    def kpi_alerts_asset(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, alerts: AlertsResource
    ) -> dg.MaterializeResult:
        with warehouse.connect(read_only=True) as con:
            monthly = con.execute("select * from marts.kpi_monthly").df()
            tickets = con.execute(
                "select created_date, count(distinct ticket_id) as n "
                "from staging.stg_feedback__tickets group by 1 order by 1"
            ).df()
        series = (
            pd.Series(tickets["n"].to_numpy(), index=pd.to_datetime(tickets["created_date"]))
            if len(tickets)
            else pd.Series(dtype=float)
        )
        found = kpi_alerts(monthly, series, alerting)
        for a in found:
            alerts.raise_alert(
                a.level,
                a.message,
                asset=KPI_ALERTS_KEY.to_user_string(),
                check_name=a.check,
                partition=a.partition,
                run_id=context.run_id,
                dedupe=True,
            )
        table = "\n".join(
            ["| level | check | period | message |", "|---|---|---|---|"]
            + [f"| {a.level} | {a.check} | {a.partition} | {a.message} |" for a in found]
        )
        return dg.MaterializeResult(
            metadata={
                "alerts": len(found),
                "yellow": sum(a.level == "yellow" for a in found),
                "blue": sum(a.level == "blue" for a in found),
                "table": dg.MetadataValue.md(table),
            }
        )

    return kpi_alerts_asset
