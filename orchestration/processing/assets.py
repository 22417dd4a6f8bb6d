"""dbt models as assets in the `processing` group, split by how they are materialised.

- `dbt_views`: staging views (cheap, unpartitioned).
- `dbt_daily`: incremental models, partitioned by day. A run (or a single-run backfill) passes its
  window to dbt as `start_date`/`end_date` (the environment variables DMP_DBT_START_DATE and
  DMP_DBT_END_DATE, which keep dbt's partial parsing valid); each model replaces exactly that window.
- `dbt_tables`: the models materialised as full tables, rebuilt from the incremental models (profiles,
  cohorts, CLV, monthly KPIs).

Every group writes the warehouse, so all run in the `warehouse` pool. dbt tests become asset
checks; error-severity tests are blocking, so downstream assets do not run when one fails.

dbt parses the project again whenever the profile (here: the warehouse path) or `--vars` differ
from the saved parse state, which costs several seconds per invocation. Each invocation therefore
starts from the parse state the previous one left for the same warehouse (kept in
dbt_project/target/partial_parse/), and the window travels in the environment, not in `--vars`.
"""

import contextlib
import datetime as dt
import functools
import hashlib
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import pydantic
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from core.spark.mirror import mirror
from orchestration.metadata import column_schema
from orchestration.names import WAREHOUSE_POOL
from orchestration.processing.lineage import LineageCache, column_lineage
from orchestration.processing.project import DBT_DIR, dbt_executable, dbt_project
from orchestration.resources import SparkResource, WarehouseResource


class DbtRunConfig(dg.Config):
    """How a processing run builds its models."""

    full_refresh: bool = pydantic.Field(
        default=False,
        description="Rebuild incremental models from all history instead of replacing the run's window.",
    )


class PlatformDbtTranslator(DagsterDbtTranslator):
    """Sources map onto the storage assets (raw/<table>); models get their layer as key prefix."""

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        node = (manifest.get("nodes", {}) | manifest.get("sources", {})).get(unique_id, {})
        if node.get("resource_type") == "source":
            return spec.replace_attributes(key=dg.AssetKey([node["schema"], node["name"]]))
        layer = node.get("fqn", ["", "model"])[1] if node.get("resource_type") == "model" else "reference"
        metadata = dict(spec.metadata)
        if node.get("relation_name"):
            # The manifest is parsed against a scratch file (its database is "parse"); the tables live
            # in the warehouse, whose catalog the platform calls "warehouse" everywhere.
            metadata["dagster/table_name"] = f"warehouse.{node['schema']}.{node.get('alias') or node['name']}"
        return spec.replace_attributes(
            key=dg.AssetKey([layer, node["name"]]),
            group_name="processing",
            owners=spec.owners or ["team:analytics-engineering"],
            metadata=metadata,
        ).merge_attributes(kinds={"duckdb"})


@functools.cache
def _relations() -> dict[str, tuple[str, str]]:
    """dbt unique_id -> (schema, table) of every model and seed, from the manifest."""
    manifest = json.loads(dbt_project().manifest_path.read_text())
    return {
        uid: (node["schema"], node.get("alias") or node["name"])
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] in {"model", "seed"}
    }


def _table_metadata(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, events: list, target: Path | None = None
) -> Iterator:
    """Add row counts and the column schema, read after dbt has released the warehouse.

    They describe the whole table, so in a run over several days they go on the materialisation
    of the run's last day only (the one the UI shows as the latest); each day keeps dbt's own few
    fields (status, duration, invocation), not a copy of the table's schema."""
    relations = _relations()
    partitioned = context.assets_def.partitions_def is not None
    last_day = context.partition_keys[-1] if partitioned and len(context.partition_keys) > 1 else None
    run_manifest = target / "manifest.json" if target is not None else None
    manifest = json.loads(run_manifest.read_text()) if run_manifest is not None and run_manifest.exists() else None
    cache = LineageCache(DBT_DIR / "target" / LINEAGE_CACHE)
    with warehouse.connect(read_only=True) as con:
        all_columns: dict[tuple[str, str], dict] = {}
        for schema, table, column, data_type in con.execute(
            "select table_schema, table_name, column_name, data_type from information_schema.columns "
            "order by table_schema, table_name, ordinal_position"
        ).fetchall():
            all_columns.setdefault((schema, table), {})[column] = {"data_type": data_type}
        for event in events:
            if isinstance(event, dg.Output):
                uid = getattr(event.metadata.get("unique_id"), "value", None)
                relation = relations.get(uid)
                if relation is not None:
                    schema, table = relation
                    cols = con.execute(
                        "select column_name, data_type from information_schema.columns "
                        "where table_schema = ? and table_name = ? order by ordinal_position",
                        [schema, table],
                    ).fetchall()
                    if cols:
                        rows = con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]
                        table_metadata = {
                            "dagster/row_count": int(rows),
                            "dagster/column_schema": column_schema(cols),
                            "dagster/table_name": f"warehouse.{schema}.{table}",
                        }
                        lineage = (
                            column_lineage(
                                manifest,
                                uid,
                                lambda s, t: all_columns.get((s, t), {}),
                                PlatformDbtTranslator(),
                                target,
                                dbt_project(),
                                cache,
                            )
                            if manifest is not None and uid in manifest["nodes"] and uid.startswith("model.")
                            else None
                        )
                        if lineage is not None:
                            table_metadata["dagster/column_lineage"] = lineage
                        if last_day is None:
                            event = event.with_metadata({**event.metadata, **table_metadata})
                        else:
                            context.add_asset_metadata(
                                table_metadata,
                                asset_key=context.asset_key_for_output(event.output_name),
                                partition_key=last_day,
                            )
            yield event
    cache.save()


PARTIAL_PARSE = "partial_parse.msgpack"
CONSOLE_LOG = "console.log"
LINEAGE_CACHE = "column_lineage_cache.json"
KEEP_INVOCATIONS = 30  # newest dbt invocation folders (artifacts and logs) kept in dbt_project/target


def _prune_invocations(keep: int = KEEP_INVOCATIONS) -> None:
    """Delete all but the newest `keep` invocation folders, so target/ does not grow run after run."""
    folders = [p for p in (DBT_DIR / "target").glob("dbt_*-*") if p.is_dir()]
    folders.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for old in folders[keep:]:
        shutil.rmtree(old, ignore_errors=True)


def _parse_state(warehouse_file: os.PathLike) -> Path:
    """Where the dbt parse state for one warehouse is kept between invocations."""
    key = hashlib.sha256(os.fspath(warehouse_file).encode()).hexdigest()[:16]
    return DBT_DIR / "target" / "partial_parse" / f"{key}.msgpack"


def dbt_env(
    warehouse_file: os.PathLike, window: tuple[dt.date, dt.date] | None, spark: SparkResource | None = None
) -> dict[str, str]:
    """The environment dbt reads: the warehouse path or the Spark Thrift server (profiles.yml) and
    the window (macros/window.sql).

    An empty window means none: the incremental models then rebuild from all history.
    """
    env = {
        "DMP_DBT_DUCKDB_PATH": os.fspath(warehouse_file),
        "DMP_DBT_START_DATE": window[0].isoformat() if window else "",
        "DMP_DBT_END_DATE": window[1].isoformat() if window else "",
    }
    if spark is not None and spark.enabled:
        env |= {"DMP_SPARK_HOST": spark.host, "DMP_SPARK_THRIFT_PORT": str(spark.thrift_port)}
    return env


@contextlib.contextmanager
def environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the block, then restore what was there before."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_window(context: dg.AssetExecutionContext) -> tuple[dt.date, dt.date]:
    """The run's first and last day (inclusive), from its partition time window."""
    window = context.partition_time_window
    return window.start.date(), window.end.date() - dt.timedelta(days=1)


def _run_dbt(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: WarehouseResource,
    spark: SparkResource,
    args: list[str],
    window: tuple[dt.date, dt.date] | None = None,
) -> Iterator:
    target = Path("target") / f"{context.op_execution_context.op.name}-{context.run.run_id[:7]}-{uuid.uuid4().hex[:7]}"
    if spark.enabled:
        _check_spark_dbt(dbt)
    state = _parse_state(f"spark://{spark.host}:{spark.thrift_port}" if spark.enabled else warehouse.file)
    if state.exists():
        (DBT_DIR / target).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(state, DBT_DIR / target / PARTIAL_PARSE)
    # dagster-dbt echoes every dbt event to stdout; they go to the invocation's own console.log
    # instead (with dbt.log beside it), so a run's output is the run's progress, not 190 dbt lines.
    console = DBT_DIR / target / CONSOLE_LOG
    console.parent.mkdir(parents=True, exist_ok=True)
    env = {**dbt_env(warehouse.file, window, spark), "DBT_USE_COLORS": "false"}  # a file gets no colour codes
    with environ(env), console.open("w", encoding="utf-8") as log, contextlib.redirect_stdout(log):
        invocation = dbt.cli(args, context=context, target_path=target, raise_on_error=False)
        events = list(invocation.stream())
    context.log.info(f"dbt {' '.join(args)}: its log is {console}")
    if spark.enabled:
        _mirror_from_spark(context, spark, warehouse, events, window)
    produced = DBT_DIR / target / PARTIAL_PARSE
    if produced.exists():
        state.parent.mkdir(parents=True, exist_ok=True)
        tmp = state.with_name(f".{state.name}.{uuid.uuid4().hex}.tmp")
        shutil.copyfile(produced, tmp)
        os.replace(tmp, state)
    _prune_invocations()
    yield from _table_metadata(context, warehouse, events, DBT_DIR / target)
    if not invocation.is_successful():
        errors = [
            line for line in console.read_text(encoding="utf-8").splitlines() if " ERROR " in line or "FAIL" in line
        ]
        raise dg.Failure(
            description=f"dbt {' '.join(args)} failed; the whole log is {console}\n" + "\n".join(errors[-20:]),
            metadata={"dbt_args": " ".join(args), "dbt_log": dg.MetadataValue.path(str(console))},
        )


def _check_spark_dbt(dbt: DbtCliResource) -> None:
    if not Path(dbt.dbt_executable).exists():
        raise dg.Failure(
            description=f"DMP_ENGINE=spark runs dbt-spark from the Spark environment, and {dbt.dbt_executable} "
            "does not exist: run `make spark-install` (and `make spark-up` for the cluster), or set DMP_SPARK_VENV.",
            allow_retries=False,
        )


def _mirror_from_spark(
    context: dg.AssetExecutionContext,
    spark: SparkResource,
    warehouse: WarehouseResource,
    events: list,
    window: tuple[dt.date, dt.date] | None,
) -> None:
    """Copy the tables dbt built on Spark into the warehouse file (the application layer and the
    serving snapshot read them there); on a view-only invocation, build the same views on DuckDB."""
    relations = _relations()
    built = [
        relations[uid]
        for event in events
        if isinstance(event, dg.Output)
        and (uid := getattr(event.metadata.get("unique_id"), "value", None)) in relations
    ]
    materialized = _materializations()
    tables = [
        (uid, rel) for uid, rel in relations.items() if rel in built and materialized[uid] in ("table", "incremental")
    ]
    views = [uid for uid, rel in relations.items() if rel in built and materialized[uid] == "view"]
    if views:
        _duckdb_views(context, warehouse, views, window)
    if not tables:
        return
    orders = _contract_orders()
    with spark.cursor() as cursor, warehouse.connect() as con:
        copied = mirror(cursor, con, [rel for _, rel in tables], {rel: orders.get(uid) for uid, rel in tables})
    context.log.info(
        f"copied {len(copied)} table(s) from Spark into the warehouse file: "
        + ", ".join(f"{s}.{t} ({n} rows)" for (s, t), n in copied.items())
    )


def _duckdb_views(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    unique_ids: list[str],
    window: tuple[dt.date, dt.date] | None,
) -> None:
    """The staging views on DuckDB too (over the warehouse's raw tables): the application layer reads them."""
    names = [uid.split(".")[-1] for uid in unique_ids]
    env = {**os.environ, **dbt_env(warehouse.file, window), "DMP_DBT_TARGET": "duckdb", "DBT_USE_COLORS": "false"}
    proc = subprocess.run(
        [dbt_executable(), "run", "--quiet", "--target-path", "target/duckdb-views", "--select", *names],
        cwd=DBT_DIR,
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise dg.Failure(description=f"the staging views on DuckDB failed:\n{proc.stdout[-4000:]}{proc.stderr[-2000:]}")
    context.log.info(f"{len(names)} view(s) built on DuckDB too, over the warehouse's raw tables")


@functools.cache
def _materializations() -> dict[str, str]:
    manifest = json.loads(dbt_project().manifest_path.read_text())
    return {uid: node["config"].get("materialized", "") for uid, node in manifest["nodes"].items()}


@functools.cache
def _contract_orders() -> dict[str, list[str]]:
    """unique_id -> its columns in the yml's order, for models with an enforced contract (DuckDB builds
    them in that order; Spark puts partition columns last)."""
    manifest = json.loads(dbt_project().manifest_path.read_text())
    return {
        uid: list(node["columns"])
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] == "model" and node["config"].get("contract", {}).get("enforced")
    }


def build_dbt_assets(partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    project = dbt_project()
    translator = PlatformDbtTranslator()

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        name="dbt_views",
        select="config.materialized:view",
        dagster_dbt_translator=translator,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
    )
    def dbt_views(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource, spark: SparkResource
    ):
        yield from _run_dbt(context, dbt, warehouse, spark, ["build"])

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        name="dbt_daily",
        select="config.materialized:incremental",
        dagster_dbt_translator=translator,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
    )
    def dbt_daily(
        context: dg.AssetExecutionContext,
        dbt: DbtCliResource,
        warehouse: WarehouseResource,
        spark: SparkResource,
        config: DbtRunConfig,
    ):
        if config.full_refresh:
            context.log.info("full refresh: rebuilding every incremental model from all history")
            yield from _run_dbt(context, dbt, warehouse, spark, ["build", "--full-refresh"])
            return
        start, end = run_window(context)
        context.log.info(f"dbt window {start}..{end} (plus the look-back for late rows)")
        yield from _run_dbt(context, dbt, warehouse, spark, ["build"], window=(start, end))

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        name="dbt_tables",
        select="config.materialized:table",
        dagster_dbt_translator=translator,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
    )
    def dbt_tables(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource, spark: SparkResource
    ):
        yield from _run_dbt(context, dbt, warehouse, spark, ["build"])

    return [dbt_views, dbt_daily, dbt_tables]
