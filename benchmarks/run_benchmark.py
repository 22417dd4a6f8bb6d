"""Whole platform runs, as `make run` and a business's first backfill make them, beside the cost of
their data. Each case is one `python -m orchestration.cli run` over its range in a fresh instance
(the embedded SQLite profile) and a fresh data directory:

    .venv/bin/python benchmarks/run_benchmark.py [--skip-plain-storage]   (or: make bench)

1. demo: the half year `make run` materialises (the settings' demo range, scale and seed: nine
   sources, about 290k rows), every layer, as one run.
2. orders-only year: 365 daily order exports of a shop that sends nothing else (about 500k lines,
   the eight optional sources absent), every layer, as one run.

For each run: wall time, the time before the first step starts (Dagster writing the run's
"materialization planned" events), the steps' time by layer, dbt's own time in models, and the
event log the run wrote (the run's database and the index database, bytes and events). The limit
beside it: bare DuckDB reading the same landing files (sniffed, errors ignored) and writing them as
Parquet, once per source. The demo also runs on Dagster's own SQLite event log storage (unless
`--skip-plain-storage`), the storage the embedded profile used before it batched its writes.

Results go to benchmarks/results/run.json and the "Whole runs" section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb  # noqa: E402

from benchmarks.report import ROOT, write_results  # noqa: E402
from core.settings import Settings  # noqa: E402
from simulator import DefectRates, SimulationConfig, simulate  # noqa: E402

PROFILE = ROOT / "deploy" / "dagster.yaml"
ORDERS_ONLY = {"start": dt.date(2025, 1, 1), "end": dt.date(2025, 12, 31), "seed": 4, "scale": 5.3}


def _layer(step: str) -> str:
    if step.startswith("lake__"):
        return "collection"
    if step.startswith(("raw__", "reference__")):
        return "storage"
    if step.startswith("dbt_"):
        return "dbt"
    return "service and application"


def _plain_profile() -> str:
    """The embedded profile with Dagster's own SQLite event log (and no profile line, so it stays)."""
    text = PROFILE.read_text()
    text = re.sub(r"\nevent_log_storage:\n(  .*\n)+", "\n", text)
    kept = [line for line in text.splitlines() if not line.startswith("# dmp-instance-profile")]
    return (
        "# written by benchmarks/run_benchmark.py: Dagster's own SQLite event log storage\n"
        + "\n".join(kept[1:])
        + "\n"
    )


def _event_log(home: Path, run_id: str) -> dict:
    runs = home / "history" / "runs"
    con = sqlite3.connect(runs / f"{run_id}.db")
    try:
        rows = [
            (step, kind, json.loads(body)["timestamp"])
            for step, kind, body in con.execute(
                "select step_key, dagster_event_type, event from event_logs where dagster_event_type in "
                "('STEP_START', 'STEP_SUCCESS', 'PIPELINE_START', 'PIPELINE_SUCCESS') order by id"
            )
        ]
        counts = dict(con.execute("select dagster_event_type, count(*) from event_logs group by 1").fetchall())
        first = con.execute("select event from event_logs order by id limit 1").fetchone()[0]
    finally:
        con.close()
    created = json.loads(first)["timestamp"]
    started, layers = {}, {}
    pipeline_start = next(ts for _, kind, ts in rows if kind == "PIPELINE_START")
    for step, kind, ts in rows:
        if kind == "STEP_START":
            started[step] = ts
        elif kind == "STEP_SUCCESS":
            layers[_layer(step)] = layers.get(_layer(step), 0.0) + ts - started[step]
    return {
        "before_first_step_s": round(pipeline_start - created, 1),
        "steps_by_layer_s": {k: round(v, 1) for k, v in layers.items()},
        "events": sum(counts.values()),
        "materializations": counts.get("ASSET_MATERIALIZATION", 0),
        "planned_events": counts.get("ASSET_MATERIALIZATION_PLANNED", 0),
        "run_db_mb": round((runs / f"{run_id}.db").stat().st_size / 1e6, 1),
        "index_db_mb": round((runs / "index.db").stat().st_size / 1e6, 1),
    }


def _dbt_model_seconds(run_id: str) -> float | None:
    """Seconds dbt spent in models and tests, from the run_results of the run's dbt invocations."""
    paths = list((ROOT / "dbt_project" / "target").glob(f"dbt_*-{run_id[:7]}-*/run_results.json"))
    if not paths:
        return None
    return round(sum(r.get("execution_time", 0.0) for p in paths for r in json.loads(p.read_text())["results"]), 1)


def _platform_run(landing: Path, start: dt.date, end: dt.date, root: Path, profile: str | None) -> dict:
    home, data = root / "home", root / "data"
    home.mkdir(parents=True)
    data.mkdir(parents=True)
    if profile is not None:
        (home / "dagster.yaml").write_text(profile)
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DMP_DATA_DIR": str(data),
        "DMP_LANDING_DIR": str(landing),
        "DMP_PARTITIONS_START": start.isoformat(),
        "PYTHONWARNINGS": "ignore",
    }
    env.pop("DAGSTER_EVENT_BATCH_SIZE", None)
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "run", "--start", start.isoformat(), "--end", end.isoformat()],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t
    match = re.search(r"run ([0-9a-f-]{36}) over .* succeeded in", proc.stdout)
    if proc.returncode != 0 or match is None:
        raise SystemExit(f"the run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    run_id = match.group(1)
    return {"wall_s": round(wall, 1), **_event_log(home, run_id), "dbt_models_s": _dbt_model_seconds(run_id)}


def _bare_duckdb(landing: Path) -> tuple[float, int]:
    """Read every landing file of every source (sniffed, errors ignored) and write it as Parquet."""
    out = Path(tempfile.mkdtemp(prefix="bench-bare-"))
    rows = 0
    t = time.perf_counter()
    con = duckdb.connect()
    for folder in sorted(p for p in landing.iterdir() if p.is_dir()):
        files = sorted(str(f) for f in folder.iterdir() if f.is_file())
        csv = [f for f in files if f.endswith((".csv", ".csv.gz"))]
        jsonl = [f for f in files if f.endswith((".jsonl", ".json", ".jsonl.gz"))]
        for kind, group in (("csv", csv), ("json", jsonl)):
            if not group:
                continue
            reader = (
                f"read_csv({group}, union_by_name = true, ignore_errors = true, all_varchar = true)"
                if kind == "csv"
                else f"read_json_auto({group}, union_by_name = true, ignore_errors = true, format = 'newline_delimited')"
            )
            target = out / f"{folder.name}_{kind}.parquet"
            con.execute(f"COPY (select * from {reader}) TO '{target}' (FORMAT parquet)")
            rows += con.execute(f"select count(*) from '{target}'").fetchone()[0]
    con.close()
    return time.perf_counter() - t, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-plain-storage", action="store_true", help="skip the demo on Dagster's own storage")
    args = parser.parse_args()
    settings = Settings()
    root = Path(tempfile.mkdtemp(prefix="bench-run-"))
    cases = {
        "demo": {
            "start": settings.demo_start,
            "end": settings.demo_end,
            "seed": settings.sim_seed,
            "scale": settings.sim_scale,
        },
        "orders_only_year": ORDERS_ONLY,
    }
    result: dict = {"command": "python benchmarks/run_benchmark.py", "cases": {}, "cores": os.cpu_count()}
    for name, case in cases.items():
        landing = root / name / "landing"
        simulate(
            SimulationConfig(
                start=case["start"],
                end=case["end"],
                seed=case["seed"],
                scale=case["scale"],
                defects=DefectRates(),
                **({"sources": ("orders",)} if name == "orders_only_year" else {}),
            ),
            landing,
            root / name / "truth",
        )
        files = [f for f in landing.rglob("*") if f.is_file()]
        lines = sum(sum(1 for _ in f.open("rb")) - 1 for f in files if f.suffix in (".csv", ".jsonl"))
        bare_s, bare_rows = _bare_duckdb(landing)
        entry = {
            "range": f"{case['start']}..{case['end']}",
            "scale": case["scale"],
            "files": len(files),
            "records": lines,
            "bare_duckdb_s": round(bare_s, 2),
            "bare_duckdb_rows": bare_rows,
            "platform": _platform_run(landing, case["start"], case["end"], root / name / "batching", None),
        }
        if name == "demo" and not args.skip_plain_storage:
            entry["platform_plain_storage"] = _platform_run(
                landing, case["start"], case["end"], root / name / "plain", _plain_profile()
            )
        result["cases"][name] = entry
        print(name, json.dumps(entry), flush=True)
    result["run_at"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    write_results("run", result, _section(result))


def _section(result: dict) -> str:
    lines = [
        "## Whole runs",
        "",
        f"Command: `{result['command']}` — run on {result['run_at']} ({result['cores']} cores).",
        "",
        "Each run is `python -m orchestration.cli run` over the range, every layer, in a fresh instance",
        "(embedded SQLite profile) and data directory. The limit beside it: bare DuckDB reading the same",
        "landing files (sniffed, errors ignored) and writing them as Parquet.",
        "",
        "| case | records (files) | run wall s | before first step s | collection / storage / dbt / rest s "
        "| dbt in models s | events (planned) | event log MB (run + index) | bare DuckDB s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, entry in result["cases"].items():
        for label, run in (
            ("", entry["platform"]),
            (" on Dagster's own SQLite event log", entry.get("platform_plain_storage")),
        ):
            if run is None:
                continue
            layers = run["steps_by_layer_s"]
            split = " / ".join(
                str(layers.get(k, 0.0)) for k in ("collection", "storage", "dbt", "service and application")
            )
            lines.append(
                f"| {name}{label} ({entry['range']}, scale {entry['scale']}) | {entry['records']:,} ({entry['files']}) "
                f"| {run['wall_s']} | {run['before_first_step_s']} | {split} | {run['dbt_models_s']} "
                f"| {run['events']:,} ({run['planned_events']:,}) | {run['run_db_mb']} + {run['index_db_mb']} "
                f"| {entry['bare_duckdb_s']} |"
            )
    lines += [
        "",
        "Targets (issue: speed): demo run ≤ 30 s, orders-only year ≤ 60 s, event log ≤ 5 MB.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
