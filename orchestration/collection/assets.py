"""One daily-partitioned asset per source: validate the day's exports, quarantine bad rows."""

from pathlib import Path

import dagster as dg
import pydantic

from core.collection import Contract, PartitionResult, collect_partitions
from core.quality import AlertingConfig, files_drift, quarantine_rate
from orchestration.metadata import contract_schema, partition_label
from orchestration.partitions import run_days
from orchestration.quality.checks import QUARANTINE_RATE, SCHEMA_DRIFT, platform_result
from orchestration.resources import AlertsResource, LakeResource

CODE_VERSION = "collection-v1"
WORST_DAYS = 10  # days named in the run's summary line (each day's figures are on its materialisation)
FILES_LISTED = 5  # files named in a day's metadata (a day of a many-file export names the first few)


def day_metadata(result: PartitionResult) -> dict:
    """One day's own figures, recorded on that day's materialisation (a few hundred bytes)."""
    return {
        "dagster/row_count": result.rows_loaded,
        "rows_read": result.rows_read,
        "rows_quarantined": result.rows_quarantined,
        "quarantine_rate": round(result.rows_quarantined / result.rows_read, 6) if result.rows_read else 0.0,
        "quarantine_reasons": dg.MetadataValue.json(result.reasons),
        "file_count": len(result.files),
        "bytes_read": sum(f.bytes for f in result.files),
        "files": dg.MetadataValue.json([f.file for f in result.files[:FILES_LISTED]]),
    }


def total_reasons(results: list[PartitionResult]) -> dict[str, int]:
    reasons: dict[str, int] = {}
    for r in results:
        for k, v in r.reasons.items():
            reasons[k] = reasons.get(k, 0) + v
    return reasons


def run_summary(source: str, results: list[PartitionResult]) -> str:
    """The run's totals, logged once (each day's materialisation carries only its own figures)."""
    read = sum(r.rows_read for r in results)
    quarantined = sum(r.rows_quarantined for r in results)
    reasons = total_reasons(results)
    top = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1])[:5])
    worst = sorted((r for r in results if r.rows_quarantined), key=lambda r: (-r.rows_quarantined, r.day))
    days = ", ".join(f"{r.day} ({r.rows_quarantined})" for r in worst[:WORST_DAYS])
    more = f" and {len(worst) - WORST_DAYS} more" if len(worst) > WORST_DAYS else ""
    return (
        f"{source}: {len(results)} day(s), {sum(len(r.files) for r in results)} file(s), read {read}, "
        f"loaded {sum(r.rows_loaded for r in results)}, quarantined {quarantined}"
        + (f" ({top}); most on {days}{more}" if top else "")
    )


class CollectionConfig(dg.Config):
    """How a collection run treats days whose export is gone."""

    allow_empty: bool = pydantic.Field(
        default=False,
        description="Replace a day that holds rows with an empty partition when its export vanished or is "
        "empty now (a deliberate, logged decision). Off: such a day fails and keeps its rows.",
    )


def _collect(
    context: dg.AssetExecutionContext, contract: Contract, lake: LakeResource, allow_empty: bool
) -> list[PartitionResult]:
    """Collect the run's days; days that fail keep their old partitions and fail the step together."""
    source = contract.source
    results: list[PartitionResult] = []
    failures: list[str] = []
    for day, result in collect_partitions(
        contract, run_days(context), lake.landing, lake.lake, allow_empty=allow_empty
    ):
        if isinstance(result, Exception):
            context.log.error(f"{source} {day}: {result}")
            failures.append(f"{day}: {result}")
            continue
        results.append(result)
    if failures:
        # Days that succeeded keep their new partitions; the failed days keep their old ones.
        raise dg.Failure(
            description=f"{len(failures)} {source} partition(s) could not be collected:\n" + "\n".join(failures),
            metadata={
                "failed_partitions": dg.MetadataValue.json(failures),
                "collected_partitions": [str(r.day) for r in results],
            },
            allow_retries=False,
        )
    return results


def build_collection_asset(
    contract: Contract, partitions_def: dg.PartitionsDefinition, alerting: AlertingConfig, lake_root: Path
) -> dg.AssetsDefinition:
    source = contract.source
    key = dg.AssetKey(["lake", source])

    @dg.asset(
        name=source,
        key_prefix=["lake"],
        group_name="collection",
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        retry_policy=dg.RetryPolicy(max_retries=2, delay=2, backoff=dg.Backoff.EXPONENTIAL),
        kinds={"python", "duckdb", "parquet"},
        owners=["team:data-engineering"],
        code_version=CODE_VERSION,
        description=f"Validated {source} rows in the raw lake (bad rows quarantined with a reason).",
        metadata={
            "dagster/column_schema": contract_schema(contract),
            "contract": str(contract.path),
            "optional_source": contract.optional,
            "source_key": list(contract.key),
            "lake_path": dg.MetadataValue.path(str(lake_root / "raw" / source)),
            "quarantine_path": dg.MetadataValue.path(str(lake_root / "quarantine" / source)),
        },
        check_specs=[
            dg.AssetCheckSpec(
                QUARANTINE_RATE,
                asset=key,
                blocking=True,
                description="Share of rows quarantined: yellow and red thresholds in alerting.yaml.",
            ),
            dg.AssetCheckSpec(
                SCHEMA_DRIFT,
                asset=key,
                blocking=True,
                description="Export columns vs the contract: new, missing or retyped columns.",
            ),
        ],
    )
    def _asset(
        context: dg.AssetExecutionContext, config: CollectionConfig, lake: LakeResource, alerts: AlertsResource
    ) -> dg.MaterializeResult:
        if config.allow_empty:
            context.log.warning(f"allow_empty: days of {source} without rows replace what they held")
        results = _collect(context, contract, lake, config.allow_empty)
        rows_read = sum(r.rows_read for r in results)
        rows_quarantined = sum(r.rows_quarantined for r in results)
        reasons = total_reasons(results)
        for r in results:
            context.add_asset_metadata(day_metadata(r), partition_key=r.day.isoformat())
        context.log.info(run_summary(source, results))
        label = partition_label([r.day for r in results])
        landed = [f.path for r in results for f in r.files]  # the files collection already found
        checks = [
            platform_result(
                key,
                QUARANTINE_RATE,
                quarantine_rate(
                    rows_read,
                    rows_quarantined,
                    alerting,
                    sum(r.value_read for r in results),
                    sum(r.value_quarantined for r in results),
                ),
                alerts,
                context.run_id,
                label,
            ),
            platform_result(
                key,
                SCHEMA_DRIFT,
                files_drift(contract, landed, rows_read, reasons, alerting),
                alerts,
                context.run_id,
                label,
            ),
        ]
        return dg.MaterializeResult(check_results=checks)

    return _asset
