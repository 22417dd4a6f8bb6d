"""Whether a process still runs (used to tell a crashed writer or run from a live one), and the
long-lived service processes the project starts itself (the Spark cluster, the Celery workers)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    # A zombie (killed, not yet reaped by its parent) is gone too.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def start_detached(argv: list[str], log: Path, env: dict[str, str], cwd: Path) -> int:
    """Start a long-lived service process in its own session (so `stop_detached` stops it and its
    children), its output appended to `log`; return its pid."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return proc.pid


def stop_detached(pid: int, timeout: float = 30.0) -> bool:
    """SIGTERM the process group of `pid`, SIGKILL it after `timeout` s; whether it was running."""
    if not process_alive(pid):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if process_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    return True


def read_pids(state_file: Path) -> dict[str, int]:
    """name -> pid of the service processes recorded in a state file (empty without one)."""
    if not state_file.exists():
        return {}
    return {name: int(pid) for name, pid in json.loads(state_file.read_text()).items()}


def write_pids(state_file: Path, pids: dict[str, int]) -> None:
    state_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = state_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(pids, indent=2))
    os.replace(tmp, state_file)
