"""One warehouse-loader asset per source: replace the run's days of `raw.<source>`, then check
what was loaded (its Great Expectations suite, daily volume, freshness)."""

import datetime as dt
from collections.abc import Callable

import dagster as dg

from core.collection import Contract
from core.quality import AlertingConfig, Suite, freshness, suite_params, suite_references, validate, worst_day_volume
from core.spark.lake import declare_raw_days, execute, kpi_targets_sql
from core.storage.reads import lake_values, latest_day, rows_per_day, sample, table_rows
from core.storage.targets import COLUMNS as TARGET_COLUMNS
from core.storage.targets import write_kpi_targets
from core.storage.warehouse import LINEAGE_COLUMNS, LakePartitionMissing, load_days
from orchestration.metadata import column_schema, contract_schema, partition_label
from orchestration.names import WAREHOUSE_POOL
from orchestration.partitions import run_days
from orchestration.quality.checks import (
    FRESHNESS,
    VOLUME_ANOMALY,
    expectation_results,
    expectation_specs,
    platform_result,
)
from orchestration.resources import AlertsResource, LakeResource, SparkResource, WarehouseResource

CODE_VERSION = "storage-v1"


def build_storage_asset(
    contract: Contract,
    partitions_def: dg.PartitionsDefinition,
    suite: Suite | None,
    alerting: AlertingConfig,
    as_of: Callable[[], dt.date],
) -> dg.AssetsDefinition:
    """`as_of` gives today by the data's clock (Settings.as_of), the day freshness is judged against."""
    source = contract.source
    key = dg.AssetKey(["raw", source])
    volume = source in alerting.volume.sources
    fresh = source in alerting.freshness.sources
    specs = expectation_specs(key, suite)
    if volume:
        specs.append(
            dg.AssetCheckSpec(
                VOLUME_ANOMALY,
                asset=key,
                blocking=True,
                description="Rows per day vs the trailing 28 days (robust: median and MAD).",
            )
        )
    if fresh:
        specs.append(
            dg.AssetCheckSpec(FRESHNESS, asset=key, description="The latest loaded day is not older than allowed.")
        )
    references = [ref for ref in suite_references(suite) if ref != source]

    @dg.asset(
        name=source,
        key_prefix=["raw"],
        group_name="storage",
        deps=[dg.AssetKey(["lake", source]), *[dg.AssetKey(["lake", ref]) for ref in references]],
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
        kinds={"duckdb"},
        owners=["team:data-engineering"],
        code_version=CODE_VERSION,
        description=f"raw.{source} in the DuckDB warehouse, loaded partition by partition from the raw lake.",
        metadata={
            "dagster/column_schema": contract_schema(contract, LINEAGE_COLUMNS),
            "dagster/table_name": f"warehouse.raw.{source}",
        },
        check_specs=specs,
    )
    def _load(
        context: dg.AssetExecutionContext,
        lake: LakeResource,
        warehouse: WarehouseResource,
        alerts: AlertsResource,
        spark: SparkResource,
    ):
        days = run_days(context)
        try:
            counts = load_days(warehouse.file, lake.lake, contract, days)
        except LakePartitionMissing as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from exc
        if spark.enabled:
            # The same days on Spark: the external table over the lake gains their partitions.
            with spark.cursor() as cursor:
                redeclared = declare_raw_days(cursor, contract, lake.lake, days)
            context.log.info(
                f"raw.{source} on Spark: {'declared over the lake' if redeclared else 'partitions added'} "
                f"for {len(days)} day(s)"
            )
        label = partition_label(days)
        checks = []
        with warehouse.connect(read_only=True) as con:
            total = table_rows(con, "raw", source)
            if suite is not None:
                # One deterministic sample of the run's rows, validated once by the whole suite. Reference
                # values come from the lake partitions of the same days (collected before this asset runs).
                frame = sample(con, "raw", source, suite.sample_rows, days)
                outcome = validate(
                    suite,
                    frame,
                    params=suite_params(days, contract.allowed_lateness_days, contract.columns),
                    lookup=lambda ref: lake_values(lake.lake, *ref.split("."), days),
                )
                outcome.rows_total = sum(counts.values())
                checks += expectation_results(key, suite, outcome, alerts, context.run_id, label)
            if volume:
                first = days[0] - dt.timedelta(days=alerting.volume.trailing_days)
                outcome = worst_day_volume(
                    rows_per_day(con, source, first, days[-1]), days, alerting, source, contract.mapping.is_closed
                )
                checks.append(platform_result(key, VOLUME_ANOMALY, outcome, alerts, context.run_id, label))
            if fresh:
                outcome = freshness(latest_day(con, source), as_of(), alerting)
                checks.append(platform_result(key, FRESHNESS, outcome, alerts, context.run_id, label))
        for day, rows in counts.items():
            context.add_asset_metadata({"dagster/row_count": int(rows)}, partition_key=str(day))
        context.log.info(
            f"raw.{source}: loaded {sum(counts.values())} rows over {len(days)} day(s); the table holds {int(total)}"
        )
        return dg.MaterializeResult(check_results=checks)

    return _load


KPI_TARGETS_KEY = dg.AssetKey(["reference", "kpi_targets"])


def build_kpi_targets_asset(rows: list[dict], source: str | None) -> dg.AssetsDefinition:
    """reference.kpi_targets from the business's targets file (read when the definitions load)."""

    @dg.asset(
        key=KPI_TARGETS_KEY,
        group_name="storage",
        pool=WAREHOUSE_POOL,
        kinds={"duckdb", "csv"},
        owners=["team:operations"],
        code_version="kpi-targets-v1",
        backfill_policy=dg.BackfillPolicy.single_run(),
        description="The business's monthly KPI targets (DMP_KPI_TARGETS); empty without a targets file.",
        metadata={
            "source_file": source or "none",
            "dagster/table_name": "warehouse.reference.kpi_targets",
            "dagster/column_schema": column_schema(TARGET_COLUMNS.items()),
        },
    )
    def kpi_targets(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, spark: SparkResource
    ) -> dg.MaterializeResult:
        with warehouse.connect() as con:
            written = write_kpi_targets(con, rows)
        if spark.enabled:
            with spark.cursor() as cursor:
                execute(cursor, kpi_targets_sql(rows))
        if not written:
            context.log.warning("no KPI targets file (DMP_KPI_TARGETS): kpi_monthly shows values without verdicts")
        return dg.MaterializeResult(metadata={"dagster/row_count": written, "kpis": [r["kpi"] for r in rows]})

    return kpi_targets
