"""API benchmark: latency and throughput of the data API under 32 concurrent clients, next to DuckDB.

    .venv/bin/python benchmarks/api_benchmark.py [--days 365 --scale 1.5 --requests 3200]

1. Simulates a year of the business (cached under benchmarks/work/), collects it, loads the
   warehouse and builds the marts with dbt (the processing benchmark's steps, cached too), then
   publishes the serving snapshot with core.service.snapshot.
2. Starts the API as a real server (`python -m api` in a subprocess, one uvicorn process) and
   sends a mix of requests (daily/monthly/channel KPIs, cohorts, segment sizes and moves,
   customer profiles, alerts) from 32 concurrent clients (threads with keep-alive connections).
3. Runs the same queries (each request's count and page statements) directly in DuckDB from 32
   threads, each with its own cursor on a read-only connection to the same snapshot.

Targets: no failed request; the API's p99 at most 3x the direct queries' p99.
Results go to benchmarks/results/api.json and the "Data API" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.ingest_benchmark import WORK, simulate  # noqa: E402
from benchmarks.processing_benchmark import START, dbt, load_warehouse  # noqa: E402
from benchmarks.report import write_results  # noqa: E402

CLIENTS = 32
KEY = "benchmark-key-all"


def build_snapshot(days: int, scale: float, seed: int) -> tuple[Path, float]:
    """The serving snapshot of a simulated business; returns (snapshot path, seconds to publish)."""
    from core.service.snapshot import publish_snapshot

    data = simulate(days, scale, seed)
    work = WORK / f"api-d{days}-s{scale:g}"
    work.mkdir(parents=True, exist_ok=True)
    warehouse = load_warehouse(data / "landing", work, [START + dt.timedelta(days=i) for i in range(days)])
    marker = work / "marts.json"
    if not marker.exists():
        dbt(["seed"], warehouse)
        seconds, _ = dbt(["run", "--full-refresh"], warehouse)
        marker.write_text(json.dumps({"dbt_seconds": round(seconds, 1)}))
    t0 = time.perf_counter()
    snapshot = publish_snapshot(warehouse, work / "serving")
    return snapshot.path, time.perf_counter() - t0


def request_mix(snapshot: Path, n: int, seed: int) -> list[tuple[str, dict, list[tuple[str, list]]]]:
    """n requests: (path, params, the SQL statements the endpoint runs for it)."""
    import duckdb

    con = duckdb.connect(str(snapshot), read_only=True)
    first, last = con.execute("select min(kpi_date), max(kpi_date) from marts.kpi_daily").fetchone()
    channels = [c for (c,) in con.execute("select distinct channel from marts.kpi_channel_daily order by 1").fetchall()]
    customers = [
        c
        for (c,) in con.execute(
            "select customer_id from marts.user_profile using sample 2000 rows (reservoir, 1)"
        ).fetchall()
    ]
    con.close()
    rng = random.Random(seed)
    span = (last - first).days

    def window(days: int) -> tuple[str, str]:
        start = first + dt.timedelta(days=rng.randrange(max(span - days, 1)))
        return start.isoformat(), min(start + dt.timedelta(days=days - 1), last).isoformat()

    def paged(relation: str, where: str, params: list, order: str, limit: int) -> list[tuple[str, list]]:
        return [
            (f"select count(*) from {relation}{where}", params),
            (f"select * from {relation}{where} order by {order} limit ? offset ?", [*params, limit, 0]),
        ]

    def one() -> tuple[str, dict, list[tuple[str, list]]]:
        kind = rng.choice(
            ["daily", "daily", "monthly", "channels", "retention", "sizes", "moves", "customer", "customer", "alerts"]
        )
        if kind == "daily":
            s, e = window(31)
            return (
                "/v1/kpis/daily",
                {"start": s, "end": e},
                paged("marts.kpi_daily", " where kpi_date >= ? and kpi_date <= ?", [s, e], "kpi_date", 100),
            )
        if kind == "monthly":
            return "/v1/kpis/monthly", {"limit": 200}, paged("marts.kpi_monthly", "", [], "kpi_month, kpi", 200)
        if kind == "channels":
            s, e = window(31)
            c = rng.choice(channels)
            return (
                "/v1/kpis/channels",
                {"start": s, "end": e, "channel": c},
                paged(
                    "marts.kpi_channel_daily",
                    " where kpi_date >= ? and kpi_date <= ? and channel = ?",
                    [s, e, c],
                    "kpi_date, channel",
                    100,
                ),
            )
        if kind == "retention":
            return (
                "/v1/kpis/retention",
                {"grain": "month", "limit": 500},
                paged(
                    "marts.kpi_retention_cohorts",
                    " where cohort_grain = ?",
                    ["month"],
                    "cohort_grain, cohort_start, periods_since",
                    500,
                ),
            )
        if kind == "sizes":
            s, e = window(7)
            relation = (
                "(select segment_date, lifecycle_stage, count(*) as customers from marts.segment_daily "
                "where segment_date >= ? and segment_date <= ? group by all) as sizes"
            )
            return (
                "/v1/segments/sizes",
                {"start": s, "end": e},
                paged(relation, "", [s, e], "segment_date, lifecycle_stage", 100),
            )
        if kind == "moves":
            s, e = window(31)
            relation = (
                "(select segment_date, previous_stage as from_stage, lifecycle_stage as to_stage, "
                "count(*) as customers from marts.segment_daily where changed and segment_date >= ? "
                "and segment_date <= ? group by all) as moves"
            )
            return (
                "/v1/segments/moves",
                {"start": s, "end": e},
                paged(relation, "", [s, e], "segment_date, from_stage, to_stage", 100),
            )
        if kind == "customer":
            c = rng.choice(customers)
            return f"/v1/customers/{c}", {}, [("select * from marts.user_profile where customer_id = ?", [c])]
        return "/v1/alerts", {"limit": 50}, paged("ops.alerts", "", [], "alert_id desc", 50)

    return [one() for _ in range(n)]


def percentiles(latencies: list[float]) -> dict:
    ordered = sorted(latencies)
    q = statistics.quantiles(ordered, n=100, method="inclusive")
    return {
        "p50_ms": round(q[49] * 1000, 2),
        "p90_ms": round(q[89] * 1000, 2),
        "p99_ms": round(q[98] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 2),
    }


def endpoint(item: tuple) -> str:
    return "/v1/customers/{id}" if item[0].startswith("/v1/customers/") else item[0]


def summarise(timed: list[tuple[str, float]], failures: list, wall: float) -> dict:
    by_endpoint = {}
    for name in sorted({n for n, _ in timed}):
        p = percentiles([t for n, t in timed if n == name])
        by_endpoint[name] = {"p50_ms": p["p50_ms"], "p99_ms": p["p99_ms"]}
    return {
        **percentiles([t for _, t in timed]),
        "requests": len(timed),
        "failed": len(failures),
        "failures": failures[:5],
        "throughput_rps": round(len(timed) / wall, 1),
        "wall_seconds": round(wall, 2),
        "by_endpoint": by_endpoint,
    }


def run_concurrently(work: list, worker_factory) -> tuple[list[tuple[str, float]], list, float]:
    """Split `work` over CLIENTS threads; each thread times every item.

    Returns ((endpoint, seconds) per item, failures, wall seconds)."""
    latencies, failures, lock = [], [], threading.Lock()
    shares = [work[i::CLIENTS] for i in range(CLIENTS)]
    barrier = threading.Barrier(CLIENTS + 1)

    def thread(share: list) -> None:
        call, close = worker_factory()
        mine, bad = [], []
        barrier.wait()
        try:
            for item in share:
                t0 = time.perf_counter()
                try:
                    ok = call(item)
                except Exception as exc:  # counted, not raised: the benchmark reports failures
                    ok = repr(exc)
                mine.append((endpoint(item), time.perf_counter() - t0))
                if ok is not True:
                    bad.append(ok)
        finally:
            close()
        with lock:
            latencies.extend(mine)
            failures.extend(bad)

    threads = [threading.Thread(target=thread, args=(s,)) for s in shares]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return latencies, failures, time.perf_counter() - t0


def bench_direct(snapshot: Path, mix: list) -> dict:
    import duckdb

    con = duckdb.connect(":memory:")
    con.execute(f"attach '{snapshot}' as snapshot (read_only)")

    def factory():
        cur = con.cursor()
        cur.execute("use snapshot")

        def call(item) -> bool:
            for sql, params in item[2]:
                cur.execute(sql, params).fetchall()
            return True

        return call, cur.close

    timed, failures, wall = run_concurrently(mix, factory)
    con.close()
    return summarise(timed, failures, wall)


def start_server(snapshot: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "DMP_API_SNAPSHOT": str(snapshot),
        "DMP_API_KEYS": f"{KEY}:*",
        "DMP_API_HOST": "127.0.0.1",
        "DMP_API_PORT": str(port),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "api"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    import httpx

    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the API server did not answer /health within 60 s")


def bench_api(url: str, mix: list) -> dict:
    import httpx

    def factory():
        client = httpx.Client(base_url=url, headers={"X-API-Key": KEY}, timeout=60)

        def call(item) -> bool | str:
            response = client.get(item[0], params=item[1])
            return True if response.status_code == 200 else f"HTTP {response.status_code}: {response.text[:120]}"

        return call, client.close

    run_concurrently(mix[: CLIENTS * 5], factory)  # warm-up: connections, the snapshot, the code paths
    return summarise(*run_concurrently(mix, factory))


def report(result: dict) -> None:
    api, direct = result["api"], result["direct"]
    rows = "\n".join(
        f"| {name} | {r['requests']:,} | {r['failed']} | {r['p50_ms']:.1f} | {r['p90_ms']:.1f} | {r['p99_ms']:.1f} "
        f"| {r['throughput_rps']:,.0f} |"
        for name, r in (("API over HTTP (uvicorn, 1 process)", api), ("the same queries directly in DuckDB", direct))
    )
    endpoints = "\n".join(
        f"| `{name}` | {api['by_endpoint'][name]['p50_ms']:.1f} | {api['by_endpoint'][name]['p99_ms']:.1f} "
        f"| {direct['by_endpoint'][name]['p50_ms']:.1f} | {direct['by_endpoint'][name]['p99_ms']:.1f} |"
        for name in api["by_endpoint"]
    )
    section = f"""## Data API

Command: `{result["command"]}` — run on {result["run_at"]} ({result["machine"]}).

Data: {result["days"]} simulated days at scale {result["scale"]}: snapshot of {result["snapshot_mb"]:.0f} MB,
{result["rows"]["marts.segment_daily"]:,} rows in `segment_daily`, {result["rows"]["marts.user_profile"]:,}
customers; publishing it took {result["publish_seconds"]:.1f} s. {CLIENTS} concurrent clients, a mix of
daily/monthly/channel KPIs, cohorts, segment sizes and moves, customer profiles and alerts.

| path | requests | failed | p50 ms | p90 ms | p99 ms | requests/s |
|---|---|---|---|---|---|---|
{rows}

API p99 / direct p99 = **{result["p99_ratio"]:.2f}×** (target ≤ 3×); failed requests: **{api["failed"]}**
(target 0). The direct figures are the endpoint's own statements (count and page) on a read-only
connection, without HTTP, JSON or authentication, from {CLIENTS} threads at once; the load
generator runs on the same machine as the server.

| endpoint | API p50 ms | API p99 ms | direct p50 ms | direct p99 ms |
|---|---|---|---|---|
{endpoints}

The snapshot stores each table in the order of its date column, so a date-range query reads only
the blocks of those days (the segment endpoints aggregate `segment_daily`, day × customer). The
API's own cost per request (HTTP, key check, validation, JSON, with the load generator on the
same {result["machine"]}) shows in the p50; under {CLIENTS} concurrent clients both paths queue,
which sets the tail. Load average on the machine at the start: {result["load_average"]}.
"""
    write_results("api", result, section)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--scale", type=float, default=1.5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--requests", type=int, default=3200)
    args = parser.parse_args()

    snapshot, publish_seconds = build_snapshot(args.days, args.scale, args.seed)
    load_average = round(os.getloadavg()[0], 1)  # other work on the machine skews every figure
    print(f"snapshot ready: {snapshot} (published in {publish_seconds:.1f}s)", flush=True)
    mix = request_mix(snapshot, args.requests, args.seed)
    direct = bench_direct(snapshot, mix)
    print(f"direct DuckDB: {json.dumps(direct)}", flush=True)
    proc, url = start_server(snapshot)
    try:
        api = bench_api(url, mix)
    finally:
        proc.terminate()
        proc.wait(30)
    print(f"API: {json.dumps(api)}", flush=True)

    import duckdb

    con = duckdb.connect(str(snapshot), read_only=True)
    rows = {f"{s}.{t}": int(n) for s, t, n in con.execute("select * from meta.tables").fetchall()}
    con.close()
    result = {
        "command": " ".join(["python benchmarks/api_benchmark.py", *sys.argv[1:]]),
        "run_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores",
        "load_average": load_average,
        "days": args.days,
        "scale": args.scale,
        "clients": CLIENTS,
        "snapshot_mb": round(snapshot.stat().st_size / 2**20, 1),
        "rows": rows,
        "publish_seconds": round(publish_seconds, 2),
        "api": api,
        "direct": direct,
        "p99_ratio": round(api["p99_ms"] / direct["p99_ms"], 2),
    }
    report(result)
    ok = api["failed"] == 0 and result["p99_ratio"] <= 3
    print(json.dumps({"p99_ratio": result["p99_ratio"], "failed": api["failed"], "targets_met": ok}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
