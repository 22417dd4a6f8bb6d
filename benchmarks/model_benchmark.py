"""Model benchmark: training and scoring time and peak memory at the larger simulated scale.

    .venv/bin/python benchmarks/model_benchmark.py [--days 365 --scale 6]   (part of make bench)

1. Simulates a year of the business (about 100k customers at scale 6; cached under
   benchmarks/work/), collects and loads it with the platform's own code, and builds the dbt
   models (`dbt run --full-refresh`).
2. Runs each step of the model pipeline in a fresh process, with its own wall time and peak
   resident memory: retention features (all cutoffs), retention training and evaluation,
   scoring; the demand panel, the demand backtest and fit, the forecast.
3. The demand steps again on a catalogue of `--catalogue` products (4,000: the same year and
   customers, the sales spread over a long tail), simulated, collected and built the same way.

Results go to benchmarks/results/models.json and the "Models" section of benchmarks/RESULTS.md.
Targets: peak memory under 4 GB in every step; the demand backtest and fit on the large
catalogue within 2 minutes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path
from queue import Empty

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.ingest_benchmark import START, WORK, simulate  # noqa: E402
from benchmarks.processing_benchmark import dbt, load_warehouse  # noqa: E402
from benchmarks.report import write_results  # noqa: E402


def _step(name: str, warehouse: str, queue) -> None:
    import duckdb
    import pandas as pd

    from ml import demand as dm
    from ml import retention as rt
    from ml.panel import build_panel_table, read_panel
    from ml.retention_features import build_features, order_history_span, plan_cutoffs

    t0 = time.perf_counter()
    info: dict = {}
    features_file = Path(warehouse).parent / "retention_features.parquet"
    if name == "retention_features":
        with duckdb.connect(warehouse, read_only=True) as con:
            first, last = order_history_span(con)
            plan = plan_cutoffs(first, last, 60, 4, 14, 28)
            frame = build_features(con, plan.all(), 60)
        roles = dict.fromkeys(plan.training, "training") | {plan.evaluation: "evaluation", plan.scoring: "scoring"}
        frame["role"] = frame["cutoff"].map(roles)
        frame.to_parquet(features_file)
        info = {"rows": len(frame), "by_role": frame["role"].value_counts().to_dict()}
    elif name in {"retention_training", "retention_scoring"}:
        frame = pd.read_parquet(features_file)
        train = frame[frame["role"] == "training"]
        model = rt.fit(train, rt.RetentionParams())
        baselines = rt.Baselines().fit(train)
        if name == "retention_training":
            result, _, _ = rt.evaluate(model, baselines, frame[frame["role"] == "evaluation"])
            info = {
                "training_rows": len(train),
                "roc_auc": round(result.model["roc_auc"], 4),
                "baseline": result.baseline_name,
                "baseline_roc_auc": round(result.baseline["roc_auc"], 4),
            }
        else:
            t0 = time.perf_counter()  # scoring only: the model is fitted above
            scoring = frame[frame["role"] == "scoring"]
            p = model.predict_proba(scoring)
            rt.risk_deciles(p)
            info = {"scored_customers": len(scoring)}
    elif name == "demand_panel":
        with duckdb.connect(warehouse) as con:
            build_panel_table(con)
            panel = read_panel(con)
        info = {"products": len(panel.products), "days": len(panel.days)}
    elif name in {"demand_backtest", "demand_forecast"}:
        with duckdb.connect(warehouse, read_only=True) as con:
            panel = read_panel(con)
        result, model = dm.backtest(panel, dm.DemandParams())
        if name == "demand_backtest":
            info = {
                "window_mase": round(result.metrics["window_mase"], 4),
                "wape": round(result.metrics["wape"], 4),
                "coverage_80": round(result.metrics["coverage_80"], 4),
            }
        else:
            t0 = time.perf_counter()
            info = {"rows": len(dm.forecast(model, panel, 28))}
    seconds = time.perf_counter() - t0
    # VmHWM: this process's own peak (ru_maxrss would carry the parent's peak across fork + exec).
    hwm_kb = next(
        int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM:")
    )
    peak_mb = hwm_kb / 1024
    queue.put({"step": name, "seconds": round(seconds, 2), "peak_rss_mb": round(peak_mb), **info})


DEMAND_STEPS = ["demand_panel", "demand_backtest", "demand_forecast"]
STEPS = ["retention_features", "retention_training", "retention_scoring", *DEMAND_STEPS]
DEMAND_TARGET_SECONDS = 120


def build(days: int, scale: float, seed: int, products: int | None = None) -> Path:
    """The simulated year, collected, loaded and built by dbt (cached under benchmarks/work/)."""
    data = simulate(days, scale, seed, products)
    work = WORK / (f"models-d{days}-s{scale:g}" + (f"-p{products}" if products else ""))
    work.mkdir(parents=True, exist_ok=True)
    day_list = [START + dt.timedelta(days=i) for i in range(days)]
    warehouse = load_warehouse(data / "landing", work, day_list)
    if not (work / "dbt_built.json").exists():
        dbt(["seed"], warehouse)
        dbt(["run", "--full-refresh"], warehouse)
        (work / "dbt_built.json").write_text("{}")
    print(f"warehouse ready: {warehouse}", flush=True)
    return warehouse


def run_steps(names: list[str], warehouse: Path) -> list[dict]:
    ctx = mp.get_context("spawn")
    steps = []
    for name in names:
        queue = ctx.Queue()
        proc = ctx.Process(target=_step, args=(name, str(warehouse), queue))
        proc.start()
        while True:  # a step that dies (out of memory, a crash) must fail the benchmark, not hang it
            try:
                steps.append(queue.get(timeout=5))
                break
            except Empty:
                if not proc.is_alive():
                    raise RuntimeError(f"step {name} died with exit code {proc.exitcode}") from None
        proc.join()
        print(json.dumps(steps[-1]), flush=True)
    return steps


def _rows(steps: list[dict]) -> str:
    return "\n".join(
        f"| {s['step']} | {s['seconds']:.1f} | {s['peak_rss_mb']:,} | "
        f"{', '.join(f'{k} {v}' for k, v in s.items() if k not in {'step', 'seconds', 'peak_rss_mb'})} |"
        for s in steps
    )


def report(result: dict) -> None:
    catalogue = result["catalogue"]
    backtest = next(s for s in catalogue["steps"] if s["step"] == "demand_backtest")
    section = f"""## Models (retention and demand)

Command: `{result["command"]}` — run on {result["run_at"]} ({result["machine"]}).

Data: {result["days"]} simulated days at scale {result["scale"]}: {result["customers"]:,} customers
({result["buyers"]:,} with an order), {result["orders"]:,} orders, {result["products"]} products. Each step runs
in a fresh process; peak RSS is the process's own high-water mark (VmHWM).

| step | seconds | peak RSS (MB) | notes |
|---|---|---|---|
{_rows(result["steps"])}

The demand steps on a catalogue of {catalogue["products"]:,} products (the same year and scale, the
sales spread over a long tail; {catalogue["orders"]:,} orders):

| step | seconds | peak RSS (MB) | notes |
|---|---|---|---|
{_rows(catalogue["steps"])}

Demand backtest and fit at {catalogue["products"]:,} products: **{backtest["seconds"]:.1f} s** (target
{DEMAND_TARGET_SECONDS} s). Peak memory of any step: **{result["max_peak_rss_mb"]:,} MB** (target < 4,096 MB).
"""
    write_results("models", result, section)


def _orders(warehouse: Path) -> int:
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute("select count(distinct order_id) from intermediate.int_order_lines").fetchall()[0][0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--scale", type=float, default=6)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--catalogue", type=int, default=4000, help="products in the large-catalogue demand run")
    args = parser.parse_args()
    warehouse = build(args.days, args.scale, args.seed)
    steps = run_steps(STEPS, warehouse)
    large = build(args.days, args.scale, args.seed, args.catalogue)
    catalogue_steps = run_steps(DEMAND_STEPS, large)

    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        customers = con.execute("select count(*) from raw.users").fetchall()[0][0]
        buyers = con.execute("select count(*) from intermediate.int_customer_lifecycle").fetchall()[0][0]
    orders = _orders(warehouse)
    result = {
        "command": "make bench"
        if os.environ.get("MAKELEVEL")
        else "python benchmarks/model_benchmark.py " + " ".join(sys.argv[1:]),
        "run_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores",
        "days": args.days,
        "scale": args.scale,
        "customers": customers,
        "buyers": buyers,
        "orders": orders,
        "products": next(s["products"] for s in steps if s["step"] == "demand_panel"),
        "steps": steps,
        "catalogue": {
            "products": next(s["products"] for s in catalogue_steps if s["step"] == "demand_panel"),
            "orders": _orders(large),
            "steps": catalogue_steps,
        },
        "max_peak_rss_mb": max(s["peak_rss_mb"] for s in steps + catalogue_steps),
    }
    report(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
