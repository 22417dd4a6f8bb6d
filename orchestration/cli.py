"""Command line for the platform: `python -m orchestration.cli {demo,simulate,summary,home}`.

`demo` is what `make run` does: generate the simulated business for the demo range (unless the
same dataset is already there), materialise every asset for every day of the range as one run in
the project's Dagster instance, and print what landed where.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import time
from pathlib import Path

from core.settings import Settings, get_settings


def ensure_dagster_home() -> Path:
    """Point DAGSTER_HOME at the instance (default .dagster_home/), its dagster.yaml the DMP_INSTANCE profile."""
    from orchestration.instance import prepare_home

    return prepare_home(get_settings())


def simulate_if_needed(settings: Settings, force: bool = False) -> bool:
    """Generate the demo dataset unless the landing zone already holds the same one."""
    from simulator import DefectRates, SimulationConfig, simulate

    config = SimulationConfig(
        start=settings.demo_start,
        end=settings.demo_end,
        seed=settings.sim_seed,
        scale=settings.sim_scale,
        defects=DefectRates() if settings.sim_defects else DefectRates.none(),
    )
    manifest_path = settings.ground_truth_dir / "manifest.json"
    wanted = {
        "start": config.start.isoformat(),
        "end": config.end.isoformat(),
        "seed": config.seed,
        "scale": config.scale,
    }
    if not force and manifest_path.exists():
        have = json.loads(manifest_path.read_text())
        if all(have.get(k) == v for k, v in wanted.items()) and have.get("defect_rates", {}).get("duplicate", 0) == (
            config.defects.duplicate
        ):
            return False
    if settings.landing_dir.exists():
        shutil.rmtree(settings.landing_dir)
    simulate(config, settings.landing_dir, settings.ground_truth_dir)
    return True


UI_URL = os.environ.get("DMP_UI_URL", "http://127.0.0.1:3000")


def announce_run(what: str) -> str:
    """A new run id, printed with where the UI shows the run (`make ui`), before the run starts."""
    from dagster._core.utils import make_new_run_id

    run_id = make_new_run_id()
    print(f"      run {run_id} ({what}) started: {UI_URL}/runs/{run_id} (with `make ui` running)", flush=True)
    return run_id


def run_platform(settings: Settings, start=None, end=None, log_level: str = "WARNING"):
    """Materialise every asset for the days [start, end] as one run in the project's instance."""
    import dagster as dg

    from orchestration.definitions import PLATFORM_JOB, build_definitions
    from orchestration.names import WAREHOUSE_POOL
    from orchestration.partitions import range_tags
    from orchestration.recovery import StepProgress, WaitWatcher, host_tags, reap_dead_runs, slot_holders

    ensure_dagster_home()
    out = sys.stdout  # the progress lines keep it while a dbt step sends dbt's own output to its log file
    start, end = start or settings.demo_start, end or settings.demo_end
    defs = build_definitions(settings)
    job = defs.resolve_job_def(PLATFORM_JOB)
    with dg.DagsterInstance.get() as instance:
        reap_dead_runs(instance, log=lambda message: print(f"      {message}"))
        holders = slot_holders(instance, WAREHOUSE_POOL)
        if holders:
            print(f"      the warehouse slot is held by {', '.join(holders)}: this run's warehouse steps wait for it")
        run_id = announce_run(f"{job.name} {start}..{end}")
        with (
            WaitWatcher(instance, WAREHOUSE_POOL, log=lambda line: print(f"      {line}", file=out, flush=True)),
            StepProgress(instance, run_id, log=lambda line: print(f"      {line}", file=out, flush=True)),
        ):
            return job.execute_in_process(
                instance=instance,
                run_id=run_id,
                tags={**range_tags(start, end), **host_tags()},
                raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
            )


def run_models(settings: Settings, log_level: str = "WARNING"):
    """Retrain, gate and promote the models, re-score and refresh what shows the scores (one run)."""
    import dagster as dg

    from orchestration.definitions import build_definitions
    from orchestration.names import MODEL_JOB
    from orchestration.recovery import StepProgress, host_tags, reap_dead_runs

    ensure_dagster_home()
    out = sys.stdout  # as in run_platform
    job = build_definitions(settings).resolve_job_def(MODEL_JOB)
    with dg.DagsterInstance.get() as instance:
        reap_dead_runs(instance, log=lambda message: print(f"      {message}"))
        run_id = announce_run(job.name)
        with StepProgress(instance, run_id, log=lambda line: print(f"      {line}", file=out, flush=True)):
            return job.execute_in_process(
                instance=instance,
                run_id=run_id,
                tags=host_tags(),
                raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
            )


def summary(settings: Settings) -> str:
    """Rows per source in the lake, quarantined rows, the headline KPIs and where everything is.

    It never opens the warehouse: a reader there would hold its file lock against the next load.
    The KPIs come from the serving snapshot, the read-only copy published for readers."""
    import duckdb

    from core.collection.contracts import load_contracts
    from core.service.snapshot import read_manifest

    contracts = load_contracts(settings.contracts_dir, settings.mappings_dir)
    lake = settings.lake_dir
    lines = [f"{'source':<17}{'lake rows':>12}{'quarantined':>13}", "-" * 42]
    con = duckdb.connect()
    for source in contracts:

        def count(kind: str, source: str = source) -> int:
            pattern = lake / kind / source / "dt=*" / "part-0.parquet"
            if not list((lake / kind / source).glob("dt=*/part-0.parquet")):
                return 0
            return con.execute(f"select count(*) from read_parquet('{pattern}')").fetchone()[0]

        lines.append(f"{source:<17}{count('raw'):>12,}{count('quarantine'):>13,}")
    if settings.serving_path.exists():
        published = read_manifest(settings.serving_dir).get("published_at", "?")
        with duckdb.connect(str(settings.serving_path), read_only=True) as snapshot:
            lines += ["", f"(from the serving snapshot published {published})", *headline_kpis(snapshot)]
    else:
        lines += ["", "(no serving snapshot yet: the KPIs appear once a run has published one)"]
    from core.alerts.store import list_alerts

    alerts = list_alerts(settings.alerts_path, limit=100_000)
    if alerts:
        by_level = {lvl: sum(a.level == lvl for a in alerts) for lvl in ("red", "yellow", "blue")}
        lines += ["", "alerts: " + ", ".join(f"{lvl} {n}" for lvl, n in by_level.items())]
        for a in alerts[-5:]:
            lines.append(f"  [{a.level}] {a.asset or '-'} {a.check_name or ''} {a.partition or ''}: {a.message[:110]}")
    lines += [
        "",
        f"landing zone : {settings.landing_dir}",
        f"raw lake     : {lake / 'raw'}   (Parquet, hive-partitioned by dt=YYYY-MM-DD)",
        f"quarantine   : {lake / 'quarantine'}   (each bad row with its reason and original line)",
        f"warehouse    : {settings.warehouse_path}   (DuckDB: raw, staging, intermediate, marts; writers only)",
        f"snapshot     : {settings.serving_path}   (read-only copy for BI tools, the API, this summary)",
        f"alerts       : {settings.alerts_path}   (SQLite)",
        "open the UI  : make ui   (then http://127.0.0.1:3000)",
    ]
    return "\n".join(lines)


def warehouse_copy(settings: Settings, target: Path) -> Path:
    """A consistent copy of the warehouse for tools that need a DuckDB connection to read it.

    The copy is taken through a read-only attachment (the warehouse's lock is held only while
    copying, and a load waiting for it backs off and retries), then the tool opens the copy."""
    import duckdb

    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    with duckdb.connect(str(target)) as con:
        con.execute(f"ATTACH '{settings.warehouse_path}' AS warehouse (READ_ONLY)")
        con.execute(f'COPY FROM DATABASE warehouse TO "{target.stem}"')
        con.execute("DETACH warehouse")
    return target


def build_docs(settings: Settings) -> str:
    """dbt docs (models, columns, tests, lineage and the catalog) of the settings' warehouse, as one
    static page (`static_index.html`: manifest and catalog inlined) that a browser opens from the file."""
    import subprocess

    from orchestration.processing.project import DBT_DIR

    if not settings.warehouse_path.exists():
        raise SystemExit(f"no warehouse at {settings.warehouse_path}: run the platform first (make run)")
    copy = warehouse_copy(settings, settings.data_dir / "docs" / "warehouse_copy.duckdb")
    target = settings.data_dir / "docs" / "dbt"
    env = {**os.environ, "DMP_DBT_DUCKDB_PATH": str(copy)}
    dbt = Path(sys.executable).parent / "dbt"
    subprocess.run(
        [str(dbt), "docs", "generate", "--profiles-dir", ".", "--target-path", str(target), "--static", "--quiet"],
        cwd=DBT_DIR,
        env=env,
        check=True,
    )
    page = target / "static_index.html"
    if not page.exists():
        raise SystemExit(f"dbt docs generate --static wrote no {page}")
    return f"dbt docs: {page} (open it in a browser; built from a copy of {settings.warehouse_path})"


def headline_kpis(con) -> list[str]:
    """Monthly headline KPIs against targets and the customer segments, from the marts."""
    has = {
        r[0]
        for r in con.execute("select table_name from information_schema.tables where table_schema = 'marts'").fetchall()
    }
    if "kpi_monthly" not in has:
        return ["(marts not built yet)"]
    kpis = [
        "net_revenue",
        "orders",
        "aov",
        "new_customers",
        "active_users",
        "conversion_rate",
        "repurchase_rate",
        "cac",
        "roas",
        "nps",
        "month1_retention",
    ]
    rows = con.execute(
        "select kpi_month, kpi, value, target, meets_target from marts.kpi_monthly order by kpi_month, kpi"
    ).fetchall()
    months = sorted({r[0] for r in rows})
    table = {(r[0], r[1]): r for r in rows}
    out = [
        "headline KPIs by month (value / target; * = target missed)",
        f"{'kpi':<17}" + "".join(f"{str(m)[:7]:>22}" for m in months),
    ]
    for kpi in kpis:
        cells = []
        for m in months:
            _, _, value, target, met = table.get((m, kpi), (None, None, None, None, None))
            if value is None:
                cells.append(f"{'n/a':>22}")
                continue
            fmt = (lambda v: f"{v:,.0f}") if abs(target or value) >= 100 else (lambda v: f"{v:.3g}")
            text = f"{fmt(value)} / {fmt(target) if target is not None else '-'}{'*' if met is False else ' '}"
            cells.append(f"{text:>22}")
        out.append(f"{kpi:<17}" + "".join(cells))
    if "user_profile" in has:
        stages = con.execute(
            "select lifecycle_stage, count(*) from marts.user_profile group by 1 order by 2 desc"
        ).fetchall()
        out += ["", "customers by lifecycle stage: " + ", ".join(f"{s} {n:,}" for s, n in stages)]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m orchestration.cli",
        description="Run the platform from the command line: the demo, a range of days, a summary, the dbt docs. "
        "Settings come from DMP_* environment variables or .env (README, Configuration).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name, help=summary, description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter
        )

    command(
        "demo",
        "simulate (if needed), materialise the demo range as one run, train the models, print a summary",
        "What `make run` does: generate the simulated business for DMP_DEMO_START..DMP_DEMO_END unless the same "
        "dataset is already in the landing zone, materialise every layer for every day of the range as one "
        "Dagster run, train the models (the model_training job), and print what landed where.",
    )
    sim = command(
        "simulate",
        "generate the simulated dataset for the demo range",
        "Write the simulated business's daily exports into the landing zone (and its ground truth beside it).",
    )
    sim.add_argument("--force", action="store_true", help="regenerate even when the same dataset is already there")
    run = command(
        "run",
        "materialise every asset for a range of days as one run (no simulation)",
        "Materialise every layer for the days START..END as one Dagster run over the exports already in the "
        "landing zone (DMP_LANDING_DIR); the models are not retrained (`make retrain`).",
    )
    run.add_argument("--start", type=dt.date.fromisoformat, help="first day, YYYY-MM-DD (default: DMP_DEMO_START)")
    run.add_argument("--end", type=dt.date.fromisoformat, help="last day, inclusive (default: DMP_DEMO_END)")
    command(
        "summary",
        "print rows per layer and where data lives",
        "Rows per source in the lake and the quarantine, the headline KPIs from the serving snapshot, and the paths.",
    )
    command("home", "create the project-local DAGSTER_HOME and print its path", "Create DAGSTER_HOME and print it.")
    command(
        "docs",
        "build dbt's docs as one static page from a copy of the warehouse",
        "Generate dbt's docs (models, columns, tests, lineage, catalog) from a copy of the warehouse, so a load is "
        "never blocked, as a single static_index.html under <data_dir>/docs/dbt/ that opens from a file.",
    )
    args = parser.parse_args(argv)
    settings = get_settings()

    if args.command == "home":
        print(ensure_dagster_home())
        return 0
    if args.command == "simulate":
        made = simulate_if_needed(settings, force=args.force)
        print(("generated" if made else "kept existing") + f" simulated data in {settings.landing_dir}")
        return 0
    if args.command == "docs":
        print(build_docs(settings))
        return 0
    if args.command == "summary":
        print(summary(settings))
        return 0

    t0 = time.time()
    if args.command == "run":
        start, end = args.start or settings.demo_start, args.end or settings.demo_end
        print(f"[1/3] using the exports in {settings.landing_dir}")
    else:
        start, end = settings.demo_start, settings.demo_end
        if settings.landing_dir != settings.data_dir / "landing":
            print(f"[1/3] DMP_LANDING_DIR is set: using the exports in {settings.landing_dir} (no simulation)")
        else:
            made = simulate_if_needed(settings)
            print(
                f"[1/3] simulated business {start}..{end} (scale {settings.sim_scale}, seed {settings.sim_seed}): "
                f"{'generated' if made else 'already present'} in {settings.landing_dir}"
            )
    t1 = time.time()
    if end < start:
        parser.error(f"--end {end} is before --start {start}")
    if start < settings.partitions_start:
        parser.error(
            f"the range starts on {start}, before the first daily partition {settings.partitions_start}: "
            f"set DMP_PARTITIONS_START={start} (or earlier) in the environment or .env, or start the range later"
        )
    if settings.partitions_end is not None and end > settings.partitions_end:
        parser.error(
            f"the range ends on {end}, after the last daily partition {settings.partitions_end}: "
            f"set DMP_PARTITIONS_END={end} (or later) in the environment or .env, or end the range earlier"
        )
    result = run_platform(settings, start, end)
    status = "succeeded" if result.success else "FAILED"
    print(f"[2/3] run {result.run_id} over {start}..{end} {status} in {time.time() - t1:.1f}s")
    if result.success and args.command == "run":
        print(
            "      the retention and demand models are not trained by `run`: they train in the weekly "
            "model_training job (schedule weekly_model_training); `make retrain` runs it now"
        )
    if result.success and args.command == "demo":
        t2 = time.time()
        result = run_models(settings)
        status = "succeeded" if result.success else "FAILED"
        print(
            f"      model training run {result.run_id} {status} in {time.time() - t2:.1f}s "
            "(retention and demand models trained, gated, promoted; scores and forecast refreshed)"
        )
    print("[3/3] summary\n")
    print(summary(settings))
    print(f"\ntotal {time.time() - t0:.1f}s")
    if not result.success:
        alert_failed_run(settings, result)
        for line in failure_report(result):
            print(line, file=sys.stderr)
        return 1
    return 0


def alert_failed_run(settings: Settings, result) -> int:
    """The failed run's red alert, as the run_failure_alerts sensor would raise it (once per run)."""
    from dagster import DagsterEventType

    from orchestration.automation.sensors import raise_run_failure
    from orchestration.resources import AlertsResource

    message = next((e.message for e in result.all_events if e.event_type == DagsterEventType.RUN_FAILURE), None)
    alerts = AlertsResource(path=str(settings.alerts_path), webhook_url=settings.alert_webhook_url)
    return raise_run_failure(alerts, result.dagster_run, message)


def failure_report(result) -> list[str]:
    """Why a run failed, for a person: each blocking check that failed (asset, check, partition,
    reason) and each step failure's own message, before Dagster's summary lines."""
    lines = []
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if not evaluation.passed and evaluation.severity.value == "ERROR":
                partition = evaluation.metadata.get("partition")
                where = f" for {partition.value}" if partition is not None else ""
                lines.append(
                    f"blocking check failed: {evaluation.asset_key.to_user_string()} {evaluation.check_name}{where}: "
                    f"{evaluation.description}"
                )
        elif event.is_step_failure:
            error = event.event_specific_data.error
            detail = error.message.strip().splitlines()[0] if error and error.message else event.message
            lines.append(f"step {event.step_key} failed: {detail}")
        elif event.is_failure:
            lines.append(event.message)
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
