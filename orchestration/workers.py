"""`python -m orchestration.workers up|down|status`: the Celery worker processes (make workers).

Each worker is a separate process (`celery -A orchestration.celery_app worker`, one step at a time:
the solo pool runs the step in the worker's own process, so the pid in a step's events is the
worker's), started in its own session with its log under `<data_dir>/celery/logs`; the pids go to
`<data_dir>/celery/workers.json`, so `down` stops exactly what `up` started. On a real cluster the
workers run on other machines with the same DMP_* settings, DAGSTER_HOME and code; only
DMP_CELERY_BROKER / DMP_CELERY_BACKEND must point at a broker they all reach.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

from core.processes import process_alive, read_pids, start_detached, stop_detached, write_pids
from core.settings import PROJECT_ROOT, Settings, get_settings

QUEUE = "dagster"  # dagster-celery's default queue


class WorkerSetupError(RuntimeError):
    """What is missing to start the workers, and how to get it."""


def _dir(settings: Settings) -> Path:
    return settings.data_dir / "celery"


def _state_file(settings: Settings) -> Path:
    return _dir(settings) / "workers.json"


def check_broker(url: str) -> None:
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or {"redis": 6379, "amqp": 5672}.get(parsed.scheme, 0)
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError as exc:
        raise WorkerSetupError(
            f"the Celery broker {url} does not answer ({exc}): start it (Debian: `apt-get install -y "
            "redis-server`), or point DMP_CELERY_BROKER at the broker your workers share"
        ) from None


def _ready(settings: Settings, names: list[str], timeout: float) -> None:
    from orchestration.celery_app import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replies = app.control.ping(timeout=1.0) or []
        answered = {name.split("@")[0] for reply in replies for name in reply}
        if set(names) <= answered:
            return
        time.sleep(0.5)
    raise WorkerSetupError(f"workers {names} did not answer within {timeout:.0f} s; see {_dir(settings) / 'logs'}")


def up(settings: Settings, workers: int | None = None, timeout: float = 60.0) -> dict[str, int]:
    """Start the workers that are not running; return name -> pid of all of them."""
    check_broker(settings.celery_broker)
    state = {n: p for n, p in read_pids(_state_file(settings)).items() if process_alive(p)}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))}
    for i in range(1, (workers or settings.celery_workers) + 1):
        name = f"dmp-worker-{i}"
        if name in state:
            continue
        argv = [sys.executable, "-m", "celery", "-A", "orchestration.celery_app", "worker"]
        argv += ["-Q", QUEUE, "-n", f"{name}@%h", "--pool", "solo", "--prefetch-multiplier", "1", "--loglevel", "INFO"]
        state[name] = start_detached(argv, _dir(settings) / "logs" / f"{name}.log", env, PROJECT_ROOT)
        write_pids(_state_file(settings), state)
    _ready(settings, list(state), timeout)
    return state


def down(settings: Settings) -> list[str]:
    state = read_pids(_state_file(settings))
    stopped = [name for name, pid in state.items() if stop_detached(pid, timeout=30)]
    _state_file(settings).unlink(missing_ok=True)
    return stopped


def status(settings: Settings) -> dict:
    state = read_pids(_state_file(settings))
    return {
        "broker": settings.celery_broker,
        "workers": {name: {"pid": pid, "alive": process_alive(pid)} for name, pid in state.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestration.workers", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--workers", type=int, default=None, help="how many (default DMP_CELERY_WORKERS)")
    args = parser.parse_args(argv)
    settings = get_settings()
    try:
        if args.command == "up":
            state = up(settings, args.workers)
            print(f"Celery workers up on {settings.celery_broker}: {state}; logs in {_dir(settings) / 'logs'}")
        elif args.command == "down":
            stopped = down(settings)
            print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")
        else:
            print(json.dumps(status(settings), indent=2))
    except WorkerSetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
