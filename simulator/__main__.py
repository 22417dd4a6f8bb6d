"""Command line: `python -m simulator --start 2026-01-01 --end 2026-03-31 --out data`."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from simulator.exports import SOURCES, DefectRates, SimulationConfig, simulate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    parser.add_argument("--start", type=dt.date.fromisoformat, required=True)
    parser.add_argument("--end", type=dt.date.fromisoformat, required=True)
    parser.add_argument("--out", type=Path, required=True, help="data directory (landing/ and ground_truth/)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument(
        "--products", type=int, default=None, help="catalogue size (default: 40 x sqrt(scale), at least 20)"
    )
    parser.add_argument("--clean", action="store_true", help="switch every defect off")
    parser.add_argument("--sources", default=",".join(SOURCES), help="comma-separated subset of sources")
    args = parser.parse_args(argv)
    sources = tuple(s for s in args.sources.split(",") if s)
    unknown = sorted(set(sources) - set(SOURCES))
    if unknown:
        parser.error(f"unknown source(s) {unknown}; known: {sorted(SOURCES)}")
    if args.products is not None and args.products < 1:
        parser.error(f"--products {args.products}: a catalogue needs at least one product")
    if args.end < args.start:
        parser.error(f"--end {args.end} is before --start {args.start}")
    config = SimulationConfig(
        start=args.start,
        end=args.end,
        seed=args.seed,
        scale=args.scale,
        defects=DefectRates.none() if args.clean else DefectRates(),
        sources=sources,
        products=args.products,
    )
    manifest = simulate(config, args.out / "landing", args.out / "ground_truth")
    json.dump(manifest["rows_generated"], sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
