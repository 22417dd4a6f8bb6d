"""The KPI dashboard asset: a static HTML page for managers, rendered from the serving snapshot."""

import dagster as dg

from core.application.dashboard import write_dashboard
from orchestration.resources import ServingResource
from orchestration.service.snapshot import SNAPSHOT_KEY

DASHBOARD_KEY = dg.AssetKey(["application", "kpi_dashboard"])


def build_dashboard_asset(currency: str = "") -> dg.AssetsDefinition:
    """The dashboard reads the serving snapshot and writes <serving_dir>/dashboard/index.html (money in `currency`)."""

    @dg.asset(
        key=DASHBOARD_KEY,
        group_name="application",
        deps=[SNAPSHOT_KEY],
        kinds={"python", "html"},
        owners=["team:operations"],
        code_version="kpi-dashboard-v2",
        backfill_policy=dg.BackfillPolicy.single_run(),
        description="Static KPI dashboard (HTML, inline SVG charts) for managers, built from the serving snapshot.",
    )
    def kpi_dashboard(context: dg.AssetExecutionContext, serving: ServingResource) -> dg.MaterializeResult:
        page, data = write_dashboard(serving.snapshot, serving.dashboard_dir, currency=currency)
        latest = (
            data.kpi_monthly[data.kpi_monthly["kpi_month"] == data.kpi_monthly["kpi_month"].max()]
            if len(data.kpi_monthly)
            else data.kpi_monthly
        )
        preview = "\n".join(
            ["| KPI | value | target | met |", "|---|---|---|---|"]
            + [f"| {r.kpi} | {r.value:.4g} | {r.target:.4g} | {r.meets_target} |" for r in latest.itertuples()]
        )
        context.log.info(f"dashboard written to {page}")
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(page)),
                "url": dg.MetadataValue.url(page.as_uri()),
                "bytes": page.stat().st_size,
                "data_through": str(data.latest_day) if data.latest_day else "no data",
                "has_forecast": data.forecast is not None,
                "alerts": len(data.alerts),
                "experiments": 0 if data.ab_results is None else int(data.ab_results["experiment_id"].nunique()),
                "preview": dg.MetadataValue.md(preview if len(latest) else "no KPI months yet"),
            }
        )

    return kpi_dashboard
