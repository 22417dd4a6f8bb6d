"""One warehouse-loader asset per source: replace the run's days of `raw.<source>`."""


import dagster as dg

from lakehouse.contracts import Contract
from lakehouse.warehouse import LakePartitionMissing, LINEAGE_COLUMNS, load_days
from orchestration.collection.assets import table_schema
from orchestration.partitions import run_days
from orchestration.resources import LakeResource, WarehouseResource

CODE_VERSION = "storage-v1"
WAREHOUSE_POOL = "warehouse"


def build_storage_asset(contract: Contract, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    source = contract.source
    schema = table_schema(contract)
    schema = dg.TableSchema(columns=[*schema.columns, *[dg.TableColumn(n, t.lower()) for n, t in LINEAGE_COLUMNS.items()]])

    @dg.asset(
        name=source,
        key_prefix=["raw"],
        group_name="storage",
        deps=[dg.AssetKey(["lake", source])],
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
        kinds={"duckdb"},
        owners=["team:data-engineering"],
        code_version=CODE_VERSION,
        description=f"raw.{source} in the DuckDB warehouse, loaded partition by partition from the raw lake.",
        metadata={"dagster/column_schema": schema, "dagster/table_name": f"warehouse.raw.{source}"},
    )
    def _load(context: dg.AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource):
        days = run_days(context)
        current = lake.contracts()[source]
        try:
            counts = load_days(warehouse.file, lake.lake, current, days)
        except LakePartitionMissing as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from exc
        with warehouse.connect(read_only=True) as con:
            total = con.execute(f'select count(*) from raw."{source}"').fetchone()[0]
        loaded = sum(counts.values())
        preview = "\n".join(["| day | rows |", "|---|---|"] + [f"| {d} | {n} |" for d, n in list(counts.items())[:62]])
        return dg.MaterializeResult(metadata={
            "dagster/row_count": loaded,
            "rows_loaded": loaded,
            "table_rows_total": int(total),
            "partitions": len(days),
            "rows_per_day": dg.MetadataValue.md(preview),
            "warehouse": dg.MetadataValue.path(str(warehouse.file)),
        })

    return _load


def build_storage_assets(contracts: dict[str, Contract], partitions_def) -> list[dg.AssetsDefinition]:
    return [build_storage_asset(c, partitions_def) for c in contracts.values()]
