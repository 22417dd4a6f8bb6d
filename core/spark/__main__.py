"""`python -m core.spark up|down|status`: the local Spark standalone cluster (make spark-up / spark-down)."""

from __future__ import annotations

import argparse
import json
import sys

from core.spark import cluster


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.spark", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status"])
    args = parser.parse_args(argv)
    try:
        cfg = cluster.config()
        if args.command == "up":
            state = cluster.up(cfg)
            workers = len(cluster.alive_workers(cfg))
            print(
                f"Spark is up: master {cfg.master_url} (UI http://{cfg.host}:{cfg.master_webui_port}), "
                f"{workers} workers, Thrift server {cfg.host}:{cfg.thrift_port}; pids {state}; logs in {cfg.log_dir}"
            )
        elif args.command == "down":
            stopped = cluster.down(cfg)
            print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")
        else:
            print(json.dumps(cluster.status(cfg), indent=2))
    except cluster.SparkSetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
