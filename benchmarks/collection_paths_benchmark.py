"""Collection paths that used to cost far more than their data: absent optional sources and one
export file holding many days. Each is measured beside its physical limit in the same run.

    .venv/bin/python benchmarks/collection_paths_benchmark.py [--repeat 3]   (or: make bench)

1. Absent optional sources: the 8 optional sources of the shipped contracts, none exported, over a
   year (365 days): the platform's `collect_partitions` (one directory listing, then a copy of one
   empty file per partition) against its former day-by-day collection (kept here as the
   reference: `collect_partition` for every day on a shared connection), and against the limit:
   writing the same 2 x 365 x 8 files as plain byte copies.
2. One file for many days: the real CDNOW log (tests/data/cdnow, 69,659 lines, gzip) split into
   the 90 days of 1997-Q1 by `collect_partitions` (validation, quarantine, accounting, atomic
   per-day writes) against bare DuckDB reading the same file and writing the same days as a
   hive-partitioned Parquet dataset in one statement, with no validation.

Best of `--repeat` runs each; every run is listed. Results go to
benchmarks/results/collection_paths.json and the "Collection paths" section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb  # noqa: E402

from benchmarks.report import ROOT, write_results  # noqa: E402
from core.collection import collect_partition, collect_partitions  # noqa: E402
from core.collection.collect import connect_collector  # noqa: E402
from core.collection.contracts import load_contracts  # noqa: E402

CONTRACTS = ROOT / "expectations" / "contracts"
CDNOW = ROOT / "tests" / "data" / "cdnow"


def _timed(fn, *args) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def _platform_absent(contracts, days, root: Path) -> None:
    for c in contracts:
        collect_partitions(c, days, root / "landing", root / "a")


def _day_by_day(contracts, days, root: Path) -> None:
    con = connect_collector()
    for c in contracts:
        for d in days:
            collect_partition(c, d, root / "landing", root / "b", con=con)
    con.close()


def _byte_copies(n: int, sample: bytes, root: Path) -> None:
    for i in range(n):
        target = root / "c" / str(i // 365) / f"{i}.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(sample)


def _bare_split(export: Path, first: dt.date, last: dt.date, target: Path) -> None:
    """The floor: read the lines, split them on blanks, write the range's days in one COPY."""
    duckdb.sql(f"""
        COPY (
            select p[1] as customer_id, p[2] as date, p[3] as number_of_cds, p[4] as dollar_value,
                   strptime(p[2], '%Y%m%d')::DATE as dt
            from (
                select regexp_split_to_array(trim(line), '[ ]+') as p
                from read_csv('{export}', columns={{'line': 'VARCHAR'}}, header=true, delim='\\0',
                              quote='', escape='', auto_detect=false)
            )
            where strptime(p[2], '%Y%m%d')::DATE between DATE '{first}' and DATE '{last}'
        ) TO '{target}' (FORMAT parquet, PARTITION_BY (dt))
    """)


def absent_sources(repeat: int) -> dict:
    contracts = [c for c in load_contracts(CONTRACTS).values() if c.optional]
    days = [dt.date(2025, 1, 1) + dt.timedelta(days=i) for i in range(365)]
    runs: dict[str, list[float]] = {"platform": [], "day_by_day": [], "byte_copies": []}
    for _ in range(repeat):
        root = Path(tempfile.mkdtemp(prefix="bench-absent-"))
        try:
            runs["platform"].append(_timed(_platform_absent, contracts, days, root))
            runs["day_by_day"].append(_timed(_day_by_day, contracts, days, root))
            sample = next((root / "a").rglob("*.parquet")).read_bytes()
            runs["byte_copies"].append(_timed(_byte_copies, 2 * len(days) * len(contracts), sample, root))
        finally:
            shutil.rmtree(root, ignore_errors=True)
    best = {k: min(v) for k, v in runs.items()}
    return {
        "sources": len(contracts),
        "days": len(days),
        "runs_seconds": runs,
        "best_seconds": best,
        "speedup_vs_day_by_day": best["day_by_day"] / best["platform"],
        "ratio_to_byte_copies": best["platform"] / best["byte_copies"],
    }


def many_day_file(repeat: int) -> dict:
    contract = load_contracts(CONTRACTS, CDNOW / "mappings")["orders"]
    days = [dt.date(1997, 1, 1) + dt.timedelta(days=i) for i in range(90)]
    export = CDNOW / "landing" / "orders" / "CDNOW_master.txt.gz"
    runs: dict[str, list[float]] = {"platform": [], "bare_duckdb": []}
    rows = 0
    for _ in range(repeat):
        root = Path(tempfile.mkdtemp(prefix="bench-many-day-"))
        try:
            t = time.perf_counter()
            results = collect_partitions(contract, days, CDNOW / "landing", root / "lake")
            runs["platform"].append(time.perf_counter() - t)
            rows = sum(r.rows_read for _, r in results)

            runs["bare_duckdb"].append(_timed(_bare_split, export, days[0], days[-1], root / "bare"))
        finally:
            shutil.rmtree(root, ignore_errors=True)
    best = {k: min(v) for k, v in runs.items()}
    return {
        "file": str(export.relative_to(ROOT)),
        "days": len(days),
        "rows_in_range": rows,
        "runs_seconds": runs,
        "best_seconds": best,
        "ratio_to_bare_duckdb": best["platform"] / best["bare_duckdb"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side (best counts)")
    args = parser.parse_args()
    absent, many = absent_sources(args.repeat), many_day_file(args.repeat)
    result = {
        "command": " ".join(["benchmarks/collection_paths_benchmark.py", *sys.argv[1:]]),
        "absent": absent,
        "many_day_file": many,
    }
    a, m = absent["best_seconds"], many["best_seconds"]
    section = f"""## Collection paths

`{result["command"]}`, best of {args.repeat}.

| path | platform | reference | limit | platform / limit |
|---|---|---|---|---|
| {absent["sources"]} absent optional sources x {absent["days"]} days | {a["platform"]:.2f} s | day by day: {a["day_by_day"]:.2f} s ({absent["speedup_vs_day_by_day"]:.0f}x slower) | byte copies of the same files: {a["byte_copies"]:.2f} s | {absent["ratio_to_byte_copies"]:.1f}x |
| CDNOW log, one file, {many["days"]} days ({many["rows_in_range"]:,} rows) | {m["platform"]:.2f} s | | bare DuckDB, one partitioned COPY, no validation: {m["bare_duckdb"]:.2f} s | {many["ratio_to_bare_duckdb"]:.1f}x |

The many-day file is read and its event time typed once per collector connection for the whole
range (then each day takes its records); per day the platform still validates every rule and
writes the day's raw and quarantine partitions atomically, which the bare COPY does not.
"""
    write_results("collection_paths", result, section)
    print(section)


if __name__ == "__main__":
    main()
