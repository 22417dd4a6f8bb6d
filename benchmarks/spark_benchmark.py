"""Spark benchmark: the same dbt project on DuckDB and on a Spark standalone cluster of 1 and 2 workers.

    .venv/bin/python benchmarks/spark_benchmark.py [--days 365 --scales 2,19]   (needs make spark-install, Java 17)

For each scale (a simulated year, collected and loaded with the platform's own code, cached under
benchmarks/work/ and shared with the processing benchmark):
1. DuckDB: `dbt run --full-refresh`, then `dbt run` for the last day's window; beside them the
   engine's physical limit, one scan of the raw events (count and sums over every row of the lake's
   Parquet files).
2. Spark, once with 1 worker and once with 2 (1 core, DMP_SPARK_WORKER_MEMORY each; the Thrift
   server's driver beside them): the cluster is started as `make spark-up` starts it, the lake is
   declared as external tables (timed: once per cluster), then the same two dbt runs on the spark
   target, and the same scan through the Thrift server.
The crossover (the data size from which Spark would be faster than DuckDB on this machine) comes
from a straight line through each engine's full-refresh times over the scales.

Results go to benchmarks/results/spark.json and the "Spark engine" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import socket
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.ingest_benchmark import WORK, simulate  # noqa: E402
from benchmarks.processing_benchmark import START, dbt, load_warehouse  # noqa: E402
from benchmarks.report import write_results  # noqa: E402

SCAN = "select count(*), sum(cast(length(event_type) as bigint)), count(distinct session_id) from raw.events"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _window_env(day: dt.date | None) -> dict[str, str]:
    value = day.isoformat() if day else ""
    return {"DMP_DBT_START_DATE": value, "DMP_DBT_END_DATE": value}


def duckdb_runs(warehouse: Path, lake: Path, last: dt.date) -> dict:
    import duckdb

    full, full_models = dbt(["run", "--full-refresh"], warehouse, env=_window_env(None))
    daily, daily_models = dbt(["run"], warehouse, env=_window_env(last))
    glob = str(lake / "raw" / "events" / "*" / "*.parquet")
    with duckdb.connect() as con:
        t0 = time.perf_counter()
        con.execute(SCAN.replace("raw.events", f"read_parquet('{glob}')")).fetchall()
        scan = time.perf_counter() - t0
        rows = con.execute(f"select count(*) from read_parquet('{glob}')").fetchone()[0]
    return {
        "full_refresh_seconds": round(full, 2),
        "full_refresh_model_seconds": round(full_models, 2),
        "daily_seconds": round(daily, 2),
        "daily_model_seconds": round(daily_models, 2),
        "scan_seconds": round(scan, 2),
        "event_rows": rows,
    }


def spark_runs(warehouse: Path, lake: Path, last: dt.date, workers: int, spark_dir: Path) -> dict:
    import shutil

    from core.collection.contracts import load_contracts
    from core.settings import Settings
    from core.spark import cluster
    from core.spark.lake import connect, register_lake
    from core.storage.targets import load_kpi_targets

    shutil.rmtree(spark_dir, ignore_errors=True)
    settings = Settings(
        data_dir=spark_dir.parent,
        spark_dir=spark_dir,
        spark_workers=workers,
        spark_master_port=_free_port(),
        spark_master_webui_port=_free_port(),
        spark_thrift_port=_free_port(),
    )
    cfg = cluster.config(settings)
    t0 = time.perf_counter()
    cluster.up(cfg)
    started = time.perf_counter() - t0
    try:
        contracts = load_contracts(ROOT / "expectations" / "contracts").values()
        targets = load_kpi_targets(ROOT / "expectations" / "kpi_targets.csv")
        with connect(cfg.host, cfg.thrift_port) as cursor:
            t0 = time.perf_counter()
            register_lake(cursor, contracts, lake, targets)
            declared = time.perf_counter() - t0
        exe = settings.spark_venv / "bin" / "dbt"
        env = {"DMP_DBT_TARGET": "spark", "DMP_SPARK_HOST": cfg.host, "DMP_SPARK_THRIFT_PORT": str(cfg.thrift_port)}
        target = spark_dir / "dbt_target"
        full, full_models = dbt(["run", "--full-refresh"], warehouse, exe, env | _window_env(None), target)
        print(f"  spark {workers} worker(s): full refresh {full:.1f}s", flush=True)
        daily, daily_models = dbt(["run"], warehouse, exe, env | _window_env(last), target)
        with connect(cfg.host, cfg.thrift_port) as cursor:
            t0 = time.perf_counter()
            cursor.execute(SCAN)
            cursor.fetchall()
            scan = time.perf_counter() - t0
    finally:
        cluster.down(cfg)
    return {
        "workers": workers,
        "cluster_start_seconds": round(started, 2),
        "declare_lake_seconds": round(declared, 2),
        "full_refresh_seconds": round(full, 2),
        "full_refresh_model_seconds": round(full_models, 2),
        "daily_seconds": round(daily, 2),
        "daily_model_seconds": round(daily_models, 2),
        "scan_seconds": round(scan, 2),
    }


def _line(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares intercept and slope of seconds over millions of events."""
    n = len(points)
    mx, my = sum(x for x, _ in points) / n, sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    slope = sum((x - mx) * (y - my) for x, y in points) / var if var else 0.0
    return my - slope * mx, slope


def crossover(runs: list[dict], engine: str) -> dict:
    """Where the straight lines of full-refresh seconds over events meet (None: they do not, ahead)."""
    duck = [(r["event_rows"] / 1e6, r["duckdb"]["full_refresh_seconds"]) for r in runs]
    other = [(r["event_rows"] / 1e6, r[engine]["full_refresh_seconds"]) for r in runs]
    (a1, b1), (a2, b2) = _line(duck), _line(other)
    meet = (a2 - a1) / (b1 - b2) if b1 != b2 else None
    return {
        "duckdb_fixed_seconds": round(a1, 1),
        "duckdb_seconds_per_million_events": round(b1, 3),
        f"{engine}_fixed_seconds": round(a2, 1),
        f"{engine}_seconds_per_million_events": round(b2, 3),
        "crossover_million_events": round(meet, 1) if meet is not None and meet > 0 else None,
    }


def report(result: dict) -> None:
    rows = []
    for r in result["runs"]:
        label = f"scale {r['scale']:g} ({r['event_rows'] / 1e6:.1f}M events, {r['order_lines']:,} order lines)"
        d = r["duckdb"]
        rows.append(
            f"| {label} | DuckDB | {d['full_refresh_seconds']:.1f} | {d['full_refresh_model_seconds']:.1f} "
            f"| {d['daily_seconds']:.1f} | {d['scan_seconds']:.2f} | |"
        )
        for key in ("spark1", "spark2"):
            if key in r:
                s = r[key]
                rows.append(
                    f"| {label} | Spark, {s['workers']} worker(s) | {s['full_refresh_seconds']:.1f} "
                    f"| {s['full_refresh_model_seconds']:.1f} | {s['daily_seconds']:.1f} | {s['scan_seconds']:.2f} "
                    f"| start {s['cluster_start_seconds']:.0f} s, lake declared {s['declare_lake_seconds']:.0f} s |"
                )
    lines = []
    for key, name in (("spark1", "1 worker"), ("spark2", "2 workers")):
        c = result["crossover"].get(key)
        if c is None:
            continue
        where = (
            f"they meet at about **{c['crossover_million_events']:,}M events**"
            if c["crossover_million_events"]
            else "the lines do not meet ahead: Spark is not faster at any size on this machine"
        )
        lines.append(
            f"- Spark, {name}: {c[key + '_fixed_seconds']} s + {c[key + '_seconds_per_million_events']} s per million "
            f"events, against DuckDB's {c['duckdb_fixed_seconds']} s + {c['duckdb_seconds_per_million_events']} s; {where}."
        )
    section = f"""## Spark engine (the same dbt project on DuckDB and on Spark)

Command: `{result["command"]}` — run on {result["run_at"]} ({result["machine"]}).

Each Spark worker has 1 core and {result["worker_memory"]}; the Thrift server's driver runs beside them on the same
2 cores. "Scan" is the physical limit of each engine: one pass over every raw event (count, a sum, a
distinct count) straight from the lake's Parquet files.

| data | engine | full refresh, wall s | in models, s | daily run, wall s | scan, s | |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Full refresh as a straight line over the events (fixed cost + cost per million events):
{chr(10).join(lines)}
"""
    write_results("spark", result, section)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--scales", default="2,19", help="comma-separated simulation scales")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", default="1,2", help="Spark cluster sizes to run")
    parser.add_argument(
        "--resume",
        action="store_true",
        help=f"keep what an earlier run that stopped had measured ({PARTIAL.relative_to(ROOT)}) and measure the rest",
    )
    args = parser.parse_args()
    days = [START + dt.timedelta(days=i) for i in range(args.days)]
    earlier = {r["scale"]: r for r in json.loads(PARTIAL.read_text())} if args.resume and PARTIAL.exists() else {}
    runs: list[dict] = []
    result: dict = {"crossover": {}}
    for scale in [float(s) for s in args.scales.split(",")]:
        data = simulate(args.days, scale, args.seed)
        work = WORK / f"processing-d{args.days}-s{scale:g}"
        work.mkdir(parents=True, exist_ok=True)
        warehouse = load_warehouse(data / "landing", work, days)
        lake = work / "lake"
        print(f"scale {scale:g}: warehouse ready", flush=True)
        dbt(["seed"], warehouse)
        run = earlier.get(scale) or {"scale": scale}
        runs.append(run)
        if "duckdb" not in run:
            run["duckdb"] = duckdb_runs(warehouse, lake, days[-1])
            run["event_rows"] = run["duckdb"]["event_rows"]
            import duckdb

            with duckdb.connect(str(warehouse), read_only=True) as con:
                run["order_lines"] = con.execute("select count(*) from raw.orders").fetchone()[0]
            _save_partial(runs, earlier)
        print(f"  duckdb: {run['duckdb']}", flush=True)
        for n in [int(w) for w in args.workers.split(",")]:
            if f"spark{n}" not in run:
                run[f"spark{n}"] = spark_runs(warehouse, lake, days[-1], n, work / f"spark-{n}")
                _save_partial(runs, earlier)
            print(f"  spark {n}: {run[f'spark{n}']}", flush=True)
        result = _result(runs)
        report(result)  # written after every scale: a long run that stops keeps what it measured
    print(json.dumps(result["crossover"], indent=2))
    return 0


PARTIAL = WORK / "spark-partial.json"


def _save_partial(runs: list[dict], earlier: dict[float, dict]) -> None:
    """Every measurement as soon as it is made, for --resume after a run that stopped."""
    kept = {**earlier, **{r["scale"]: r for r in runs}}
    PARTIAL.write_text(json.dumps(list(kept.values()), indent=2))


def _result(runs: list[dict]) -> dict:
    from core.settings import Settings

    return {
        "command": "make bench"
        if os.environ.get("MAKELEVEL")
        else "python benchmarks/spark_benchmark.py " + " ".join(sys.argv[1:]),
        "run_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores",
        "worker_memory": Settings().spark_worker_memory,
        "runs": runs,
        "crossover": {
            k: crossover(runs, k) for k in ("spark1", "spark2") if len(runs) > 1 and all(k in r for r in runs)
        },
    }


if __name__ == "__main__":
    raise SystemExit(main())
