"""One daily-partitioned asset per source: validate the day's exports, quarantine bad rows."""

import dagster as dg
import pydantic

from core.collection import Contract, PartitionResult, collect_partitions
from core.quality import AlertingConfig, files_drift, quarantine_rate
from orchestration.metadata import contract_schema, partition_label
from orchestration.partitions import run_days
from orchestration.quality.checks import QUARANTINE_RATE, SCHEMA_DRIFT, platform_result
from orchestration.resources import AlertsResource, LakeResource

CODE_VERSION = "collection-v1"
# A range run's materialisation is recorded once per partition of the range, each with the same
# metadata: it stays small (a few days and files, not the whole range), the rest is in the run's log.
SUMMARY_DAYS = 10  # days listed in the summary table: those that quarantined the most
FILES_LISTED = 10


def _summary_markdown(results: list[PartitionResult]) -> str:
    lines = ["| day | files | read | loaded | quarantined | top reasons |", "|---|---|---|---|---|---|"]
    worst = sorted(results, key=lambda r: (-r.rows_quarantined, r.day))[:SUMMARY_DAYS]
    for r in sorted(worst, key=lambda r: r.day):
        top = ", ".join(f"{k} ({v})" for k, v in sorted(r.reasons.items(), key=lambda kv: -kv[1])[:3])
        lines.append(f"| {r.day} | {len(r.files)} | {r.rows_read} | {r.rows_loaded} | {r.rows_quarantined} | {top} |")
    if len(results) > SUMMARY_DAYS:
        lines.append(f"| ... {len(results) - SUMMARY_DAYS} more days (per-day lines in the run's log) | | | | | |")
    return "\n".join(lines)


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
        context.log.info(
            f"{source} {day}: read {result.rows_read}, loaded {result.rows_loaded}, "
            f"quarantined {result.rows_quarantined}"
        )
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
    contract: Contract, partitions_def: dg.PartitionsDefinition, alerting: AlertingConfig
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
        emptied = [str(r.day) for r in results if r.rows_read == 0]
        reasons: dict[str, int] = {}
        for r in results:
            for k, v in r.reasons.items():
                reasons[k] = reasons.get(k, 0) + v
        rows_read = sum(r.rows_read for r in results)
        rows_loaded = sum(r.rows_loaded for r in results)
        rows_quarantined = sum(r.rows_quarantined for r in results)
        files = [
            {
                "day": str(r.day),
                "file": f.file,
                "bytes": f.bytes,
                "rows_read": f.rows_read,
                "rows_loaded": f.rows_loaded,
                "rows_quarantined": f.rows_quarantined,
            }
            for r in results
            for f in r.files
        ]
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
        return dg.MaterializeResult(
            check_results=checks,
            metadata={
                "dagster/row_count": rows_loaded,
                "rows_read": rows_read,
                "rows_loaded": rows_loaded,
                "rows_quarantined": rows_quarantined,
                "quarantine_rate": round(rows_quarantined / rows_read, 6) if rows_read else 0.0,
                "quarantine_reasons": dg.MetadataValue.json(reasons),
                "files": dg.MetadataValue.json(files[:FILES_LISTED]),
                "file_count": len(files),
                "bytes_read": sum(f["bytes"] for f in files),
                "partitions": len(results),
                "empty_days": len(emptied),
                "summary": dg.MetadataValue.md(_summary_markdown(results)),
                "lake_path": dg.MetadataValue.path(str(lake.lake / "raw" / source)),
                "quarantine_path": dg.MetadataValue.path(str(lake.lake / "quarantine" / source)),
            },
        )

    return _asset
