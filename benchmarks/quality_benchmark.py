"""Quality-gate benchmark: what the checks add to collecting a partition of about a million rows.

    .venv/bin/python benchmarks/quality_benchmark.py   (part of make bench; needs the ingest benchmark's data)

The partition is two days of simulated events (about 1.1 million rows) landed as one day's two
files. Timed separately, on the same partition: collection (read, validate every row against the
contract, quarantine, write Parquet), then every check the platform runs on it: quarantine rate,
schema drift, the Great Expectations suite raw_events (on a deterministic 100k-row sample read
from the warehouse) and the volume anomaly.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.ingest_benchmark import WORK, simulate  # noqa: E402
from benchmarks.report import write_results  # noqa: E402

DAY = dt.date(2026, 1, 30)


def main() -> int:
    import duckdb
    import pandas as pd

    from core.collection import collect_partition, find_files
    from core.collection.contracts import load_contracts
    from core.quality import (
        export_columns,
        load_alerting_config,
        load_suites,
        quarantine_rate,
        schema_drift,
        validate,
        volume_anomaly,
    )
    from core.storage.warehouse import load_days

    data = simulate(30, 470, 7)
    work = WORK / "quality"
    shutil.rmtree(work, ignore_errors=True)
    landing = work / "landing"
    (landing / "events").mkdir(parents=True)
    shutil.copy(data / "landing" / "events" / f"{DAY}.jsonl", landing / "events" / f"{DAY}.jsonl")
    shutil.copy(
        data / "landing" / "events" / f"{DAY - dt.timedelta(days=1)}.jsonl", landing / "events" / f"{DAY}-part2.jsonl"
    )
    contract = load_contracts(ROOT / "expectations" / "contracts")["events"]
    config = load_alerting_config(ROOT / "expectations" / "alerting.yaml")
    suite = load_suites(ROOT / "expectations" / "suites")["raw/events"]

    # Importing great_expectations costs about 2 s, once per process (a run's worker process pays it
    # once, not once per partition); it is measured on its own, not as part of the checks.
    t0 = time.perf_counter()
    import great_expectations  # noqa: F401

    gx_import = time.perf_counter() - t0

    t0 = time.perf_counter()
    result = collect_partition(contract, DAY, landing, work / "lake")
    collect = time.perf_counter() - t0
    load_days(work / "warehouse.duckdb", work / "lake", contract, [DAY])

    t0 = time.perf_counter()
    quarantine_rate(result.rows_read, result.rows_quarantined, config)
    m = contract.mapping
    found = []
    for path in find_files(landing, contract, DAY):
        found += [c for c in export_columns(path, m) if c not in found]
    schema_drift(found, {m.export_name(c.name): c.required for c in contract.columns}, {}, config)
    con = duckdb.connect(str(work / "warehouse.duckdb"), read_only=True)
    frame = con.execute(
        f"select * from raw.events where dt = DATE '{DAY}' "
        f"using sample reservoir({suite.sample_rows} rows) repeatable (7)"
    ).df()
    outcome = validate(
        suite,
        frame,
        params={
            "earliest_allowed": pd.Timestamp(DAY - dt.timedelta(days=3)),
            "window_end": pd.Timestamp(DAY + dt.timedelta(days=1)),
        },
    )
    counts = con.execute("select dt, count(*) from raw.events group by dt").fetchall()
    volume_anomaly(pd.Series([n for _, n in counts], dtype=float), float(result.rows_loaded), config, "events")
    con.close()
    checks = time.perf_counter() - t0
    failed = [o.expectation for o in outcome.outcomes if not o.success]

    res = {
        "command": "make bench" if os.environ.get("MAKELEVEL") else "python benchmarks/quality_benchmark.py",
        "run_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores",
        "rows": result.rows_read,
        "collect_seconds": round(collect, 2),
        "checks_seconds": round(checks, 2),
        "checks_over_collect": round(checks / collect, 3),
        "great_expectations_import_seconds": round(gx_import, 2),
        "rows_validated_by_suite": outcome.rows_validated,
        "failed_expectations": failed,
    }
    section = f"""## Quality gates

Command: `{res["command"]}` — run on {res["run_at"]} ({res["machine"]}).

One partition of {res["rows"]:,} event rows (two days of simulated events landed as one day's two files).

| step | seconds |
|---|---|
| collection: read, validate every row against the contract, quarantine, write Parquet | {res["collect_seconds"]:.2f} |
| checks: quarantine rate, schema drift, GE suite raw_events on a {res["rows_validated_by_suite"]:,}-row sample, volume anomaly | {res["checks_seconds"]:.2f} |

The checks add **{res["checks_over_collect"]:.0%}** of the collection time (target ≤ 50%). Not included:
importing great_expectations ({res["great_expectations_import_seconds"]:.1f} s), paid once per worker process,
not per partition. Row-level rules run
once, in the collection's SQL; the suite validates a deterministic sample for the cross-row and
distribution expectations.
"""
    write_results("quality", res, section)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
