"""One daily-partitioned asset per source: validate the day's exports, quarantine bad rows."""



import dagster as dg

from lakehouse.contracts import Contract
from lakehouse.ingest import PartitionResult, collect_partitions, find_files
from lakehouse.quality import CheckOutcome, export_columns, quarantine_rate, schema_drift
from orchestration.partitions import run_days
from orchestration.quality.checks import QUARANTINE_RATE, SCHEMA_DRIFT, QualityResource, partition_label, platform_result
from orchestration.resources import LakeResource

CODE_VERSION = "collection-v1"


def table_schema(contract: Contract) -> dg.TableSchema:
    return dg.TableSchema(columns=[
        dg.TableColumn(c.name, c.sql_type.lower(), description=c.description,
                       constraints=dg.TableColumnConstraints(nullable=not c.required,
                                                             unique=contract.key == (c.name,)))
        for c in contract.columns
    ])


def _summary_markdown(results: list[PartitionResult]) -> str:
    lines = ["| day | files | read | loaded | quarantined | top reasons |", "|---|---|---|---|---|---|"]
    for r in results[:62]:
        top = ", ".join(f"{k} ({v})" for k, v in sorted(r.reasons.items(), key=lambda kv: -kv[1])[:3])
        lines.append(f"| {r.day} | {len(r.files)} | {r.rows_read} | {r.rows_loaded} | {r.rows_quarantined} | {top} |")
    if len(results) > 62:
        lines.append(f"| ... {len(results) - 62} more days | | | | | |")
    return "\n".join(lines)


def build_collection_asset(contract: Contract, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    source = contract.source

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
        metadata={"dagster/column_schema": table_schema(contract), "contract": str(contract.path),
                  "optional_source": contract.optional, "source_key": list(contract.key)},
        check_specs=[
            dg.AssetCheckSpec(QUARANTINE_RATE, asset=dg.AssetKey(["lake", source]), blocking=True,
                              description="Share of rows quarantined: yellow and red thresholds in alerting.yaml."),
            dg.AssetCheckSpec(SCHEMA_DRIFT, asset=dg.AssetKey(["lake", source]), blocking=True,
                              description="Export columns vs the contract: new, missing or retyped columns."),
        ],
    )
    def _collect(context: dg.AssetExecutionContext, lake: LakeResource, quality: QualityResource) -> dg.MaterializeResult:
        current = lake.contracts()[source]
        results: list[PartitionResult] = []
        failures: list[str] = []
        for day, result in collect_partitions(current, run_days(context), lake.landing, lake.lake):
            if isinstance(result, Exception):
                context.log.error(f"{source} {day}: {result}")
                failures.append(f"{day}: {result}")
                continue
            results.append(result)
            context.log.info(f"{source} {day}: read {result.rows_read}, loaded {result.rows_loaded}, "
                             f"quarantined {result.rows_quarantined}")
        if failures:
            # Days that succeeded keep their new partitions; the failed days keep their old ones.
            raise dg.Failure(
                description=f"{len(failures)} {source} partition(s) could not be collected:\n" + "\n".join(failures),
                metadata={"failed_partitions": dg.MetadataValue.json(failures),
                          "collected_partitions": [str(r.day) for r in results]},
                allow_retries=False,
            )
        reasons: dict[str, int] = {}
        for r in results:
            for k, v in r.reasons.items():
                reasons[k] = reasons.get(k, 0) + v
        rows_read = sum(r.rows_read for r in results)
        rows_loaded = sum(r.rows_loaded for r in results)
        rows_quarantined = sum(r.rows_quarantined for r in results)
        files = [{"day": str(r.day), "file": f.file, "bytes": f.bytes, "rows_read": f.rows_read,
                  "rows_loaded": f.rows_loaded, "rows_quarantined": f.rows_quarantined}
                 for r in results for f in r.files]
        key = dg.AssetKey(["lake", source])
        label = partition_label([r.day for r in results])
        config = quality.config()
        checks = [
            platform_result(key, QUARANTINE_RATE, quarantine_rate(rows_read, rows_quarantined, config), quality,
                            context.run_id, label),
            platform_result(key, SCHEMA_DRIFT, _drift(current, results, lake, config), quality, context.run_id, label),
        ]
        return dg.MaterializeResult(check_results=checks, metadata={
            "dagster/row_count": rows_loaded,
            "rows_read": rows_read,
            "rows_loaded": rows_loaded,
            "rows_quarantined": rows_quarantined,
            "quarantine_rate": round(rows_quarantined / rows_read, 6) if rows_read else 0.0,
            "quarantine_reasons": dg.MetadataValue.json(reasons),
            "files": dg.MetadataValue.json(files[:200]),
            "bytes_read": sum(f["bytes"] for f in files),
            "partitions": len(results),
            "summary": dg.MetadataValue.md(_summary_markdown(results)),
            "lake_path": dg.MetadataValue.path(str(lake.lake / "raw" / source)),
            "quarantine_path": dg.MetadataValue.path(str(lake.lake / "quarantine" / source)),
        })

    return _collect


def _drift(contract: Contract, results: list[PartitionResult], lake: LakeResource, config):
    """Schema drift over the run's files: columns found vs the contract's export columns."""
    m = contract.mapping
    expected = {m.export_name(c.name): c.required for c in contract.columns}
    found: list[str] = []
    for r in results:
        for path in find_files(lake.landing, contract, r.day):
            found.extend(c for c in export_columns(path, m.format, m.delimiter, m.encoding) if c not in found)
    rows_read = sum(r.rows_read for r in results)
    invalid: dict[str, float] = {}
    for r in results:
        for reason, n in r.reasons.items():
            kind, _, column = reason.partition(":")
            if kind.startswith("invalid_") and column:
                name = m.export_name(column)
                invalid[name] = invalid.get(name, 0) + n
    share = {c: n / rows_read for c, n in invalid.items()} if rows_read else {}
    if not found:
        return CheckOutcome(True, None, "no export files in this run", {})
    return schema_drift(found, expected, share, config)


def build_collection_assets(contracts: dict[str, Contract], partitions_def) -> list[dg.AssetsDefinition]:
    return [build_collection_asset(c, partitions_def) for c in contracts.values()]
