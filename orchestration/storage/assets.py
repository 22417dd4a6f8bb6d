"""One warehouse-loader asset per source: replace the run's days of `raw.<source>`, then check
what was loaded (its Great Expectations suite, daily volume, freshness)."""

import datetime as dt

import dagster as dg
import duckdb
import pandas as pd

from lakehouse.contracts import Contract
from lakehouse.quality import Suite, freshness, volume_anomaly
from lakehouse.ingest import partition_path
from lakehouse.warehouse import LINEAGE_COLUMNS, LakePartitionMissing, load_days
from orchestration.collection.assets import table_schema
from orchestration.partitions import run_days
from orchestration.quality.checks import (
    FRESHNESS,
    VOLUME_ANOMALY,
    QualityResource,
    expectation_results,
    expectation_specs,
    partition_label,
    platform_result,
    run_suite,
)
from orchestration.resources import LakeResource, WarehouseResource

CODE_VERSION = "storage-v1"
WAREHOUSE_POOL = "warehouse"


def build_storage_asset(contract: Contract, partitions_def: dg.PartitionsDefinition, suite: Suite | None,
                        volume: bool, fresh: bool) -> dg.AssetsDefinition:
    source = contract.source
    key = dg.AssetKey(["raw", source])
    specs = expectation_specs(key, suite)
    if volume:
        specs.append(dg.AssetCheckSpec(VOLUME_ANOMALY, asset=key, blocking=True,
                                       description="Rows per day vs the trailing 28 days (robust: median and MAD)."))
    if fresh:
        specs.append(dg.AssetCheckSpec(FRESHNESS, asset=key,
                                       description="The latest loaded day is not older than allowed."))
    schema = table_schema(contract)
    schema = dg.TableSchema(columns=[*schema.columns, *[dg.TableColumn(n, t.lower()) for n, t in LINEAGE_COLUMNS.items()]])

    @dg.asset(
        name=source,
        key_prefix=["raw"],
        group_name="storage",
        deps=[dg.AssetKey(["lake", source]), *[dg.AssetKey(["lake", ref]) for ref in _references(suite) if ref != source]],
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
        kinds={"duckdb"},
        owners=["team:data-engineering"],
        code_version=CODE_VERSION,
        description=f"raw.{source} in the DuckDB warehouse, loaded partition by partition from the raw lake.",
        metadata={"dagster/column_schema": schema, "dagster/table_name": f"warehouse.raw.{source}"},
        check_specs=specs,
    )
    def _load(context: dg.AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource,
              quality: QualityResource):
        days = run_days(context)
        current = lake.contracts()[source]
        try:
            counts = load_days(warehouse.file, lake.lake, current, days)
        except LakePartitionMissing as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from exc
        config = quality.config()
        label = partition_label(days)
        checks = []
        with warehouse.connect(read_only=True) as con:
            total = con.execute(f'select count(*) from raw."{source}"').fetchone()[0]
            if suite is not None:
                # One deterministic sample of the run's rows, validated once by the whole suite.
                day_list = ", ".join(f"DATE '{d}'" for d in days)
                frame = con.execute(f'select * from raw."{source}" where dt in ({day_list}) '
                                    f'using sample reservoir({suite.sample_rows} rows) repeatable (7)').df()

                def lookup(ref: str) -> list:
                    # Reference values from the lake partitions of the same days (collected before
                    # this asset runs: it depends on them).
                    table, column = ref.split(".")
                    files = [partition_path(lake.lake / "raw", table, d) for d in days]
                    files = [str(f) for f in files if f.exists()]
                    if not files:
                        return []
                    return [r[0] for r in duckdb.sql(f'select distinct "{column}" from read_parquet({files})').fetchall()]

                outcome = run_suite(suite, frame, days, contract.allowed_lateness_days, lookup)
                outcome.rows_total = sum(counts.values())
                checks += expectation_results(key, suite, outcome, quality, context.run_id, label)
            if volume:
                checks.append(platform_result(key, VOLUME_ANOMALY, _volume(con, source, days, config), quality,
                                              context.run_id, label))
            if fresh:
                latest = con.execute(f'select max(dt) from raw."{source}"').fetchone()[0]
                checks.append(platform_result(key, FRESHNESS, freshness(latest, dt.date.today(), config), quality,
                                              context.run_id, label))
        loaded = sum(counts.values())
        preview = "\n".join(["| day | rows |", "|---|---|"] + [f"| {d} | {n} |" for d, n in list(counts.items())[:62]])
        return dg.MaterializeResult(check_results=checks, metadata={
            "dagster/row_count": loaded,
            "rows_loaded": loaded,
            "table_rows_total": int(total),
            "partitions": len(days),
            "rows_per_day": dg.MetadataValue.md(preview),
            "warehouse": dg.MetadataValue.path(str(warehouse.file)),
        })

    return _load


def _references(suite: Suite | None) -> list[str]:
    """Sources a suite looks values up in (`${known:<source>.<column>}`)."""
    if suite is None:
        return []
    refs = []
    for exp in suite.expectations:
        for value in exp["kwargs"].values():
            if isinstance(value, str) and value.startswith("${known:"):
                source = value[len("${known:"):].split(".")[0]
                if source not in refs:
                    refs.append(source)
    return refs


def _volume(con, source: str, days: list[dt.date], config):
    """The run's day that deviates most from its trailing days (a range run judges each day)."""
    first = days[0] - dt.timedelta(days=config.volume_trailing_days)
    counts = dict(con.execute(f'select dt, count(*) from raw."{source}" where dt between ? and ? group by dt',
                              [first, days[-1]]).fetchall())
    series = pd.Series({d: counts.get(d, 0) for d in (first + dt.timedelta(days=i)
                                                      for i in range((days[-1] - first).days + 1))}, dtype=float)
    worst = None
    for day in days:
        history = series[(series.index >= day - dt.timedelta(days=config.volume_trailing_days)) & (series.index < day)]
        history = history[history > 0]  # days before the source existed do not count
        outcome = volume_anomaly(history, float(series.get(day, 0)), config, f"{source} rows on {day}")
        rank = {"red": 2, "yellow": 1}.get(outcome.level or "", 0)
        if worst is None or rank > worst[0]:
            worst = (rank, outcome)
    return worst[1]


def build_storage_assets(contracts: dict[str, Contract], partitions_def, suites: dict[str, Suite],
                         volume_sources: tuple[str, ...], freshness_sources: tuple[str, ...]) -> list[dg.AssetsDefinition]:
    return [build_storage_asset(c, partitions_def, suites.get(f"raw/{c.source}"), c.source in volume_sources,
                                c.source in freshness_sources) for c in contracts.values()]
