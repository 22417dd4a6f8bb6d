"""The service layer's asset: the read-only serving snapshot that BI tools and the data API read."""

import dagster as dg

from core.service.snapshot import publish_snapshot
from orchestration.names import WAREHOUSE_POOL
from orchestration.processing.project import DBT_DIR
from orchestration.resources import AlertsResource, ServingResource, WarehouseResource

SNAPSHOT_KEY = dg.AssetKey(["service", "serving_snapshot"])
# Application outputs the snapshot serves when they exist (kpi_alerts writes the alerts table).
APPLICATION_DEPS = ("kpi_alerts", "churn_risk_scores", "demand_forecast", "ab_test_results")


def mart_keys() -> list[dg.AssetKey]:
    """One key per dbt mart model (the files of dbt_project/models/marts)."""
    return [dg.AssetKey(["marts", path.stem]) for path in sorted((DBT_DIR / "models" / "marts").glob("*.sql"))]


def build_snapshot_asset() -> dg.AssetsDefinition:
    @dg.asset(
        key=SNAPSHOT_KEY,
        group_name="service",
        deps=[*mart_keys(), *(dg.AssetKey(["application", name]) for name in APPLICATION_DEPS)],
        kinds={"duckdb", "parquet"},
        owners=["team:data-platform"],
        code_version="serving-snapshot-v1",
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
        description="Read-only serving snapshot (DuckDB + Parquet) of marts, model outputs, KPI targets and alerts.",
    )
    def serving_snapshot(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        serving: ServingResource,
        alerts: AlertsResource,
    ) -> dg.MaterializeResult:
        snapshot = publish_snapshot(warehouse.file, serving.directory, alerts.file)
        context.log.info(f"published {len(snapshot.tables)} tables to {snapshot.path}")
        rows = "\n".join(
            ["| table | rows |", "|---|---|"] + [f"| {name} | {n:,} |" for name, n in snapshot.tables.items()]
        )
        return dg.MaterializeResult(
            metadata={
                "tables": dg.MetadataValue.md(rows),
                "table_count": len(snapshot.tables),
                "dagster/row_count": sum(snapshot.tables.values()),
                **{f"rows/{name}": n for name, n in snapshot.tables.items()},
                "snapshot_path": dg.MetadataValue.path(str(snapshot.path)),
                "manifest": dg.MetadataValue.path(str(snapshot.manifest)),
                "published_at": dg.MetadataValue.timestamp(snapshot.published_at),
                "excluded_columns": dg.MetadataValue.json(snapshot.excluded_columns),
            }
        )

    return serving_snapshot
