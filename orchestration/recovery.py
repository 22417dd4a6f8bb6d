"""Runs whose process is gone: found at every start of the platform's entry points (and by a sensor
while a daemon runs), marked failed, and their concurrency slots freed, so a crash (kill -9, an
out-of-memory kill, a power cut) never blocks the next run.

A run's process is the `pid` its latest events recorded. It is only judged on the machine that
ran it: runs the platform's CLI starts carry `dmp/host`; on the embedded (SQLite) instance every
run ran here. Other runs (a server deployment's daemon-launched runs) are left to Dagster's run
monitoring.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable

import dagster as dg

from core.processes import process_alive

HOST_TAG = "dmp/host"
ACTIVE = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.CANCELING]


def host_tags() -> dict[str, str]:
    """Tags a run started here carries, so a later start can tell whether its process is gone."""
    return {HOST_TAG: socket.gethostname()}


def _last_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    for record in instance.get_records_for_run(run_id, limit=20, ascending=False).records:
        event = record.event_log_entry.dagster_event
        if event is not None and event.pid:
            return int(event.pid)
    return None


def _judged_here(instance: dg.DagsterInstance, run: dg.DagsterRun) -> bool:
    if HOST_TAG in run.tags:
        return run.tags[HOST_TAG] == socket.gethostname()
    return type(instance.run_storage).__name__.startswith("Sqlite")


def reap_dead_runs(instance: dg.DagsterInstance, log: Callable[[str], None] = print) -> list[str]:
    """Mark failed every active run whose process is gone, free its slots; returns their ids."""
    reaped = []
    for run in instance.get_runs(dg.RunsFilter(statuses=ACTIVE)):
        if not _judged_here(instance, run):
            continue
        pid = _last_pid(instance, run.run_id)
        if pid is None or pid == os.getpid() or process_alive(pid):
            continue
        message = (
            f"run {run.run_id} ({run.job_name}) was still {run.status.value} but its process {pid} is gone "
            "(killed or crashed): marked failed, its concurrency slots freed"
        )
        instance.report_run_failed(run, message=message)
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        log(message)
        reaped.append(run.run_id)
    return reaped


def slot_holders(instance: dg.DagsterInstance, pool: str) -> list[str]:
    """Who holds the pool's slots now (run id and step), for a message while a step waits."""
    return _holders(instance.event_log_storage.get_concurrency_info(pool))


def _holders(info) -> list[str]:
    return [f"{s.run_id} ({s.step_key})" for s in info.claimed_slots]


def waiting_report(instance: dg.DagsterInstance, pool: str) -> list[str]:
    """A line per step waiting for the pool's slot, naming who holds it (empty when none waits)."""
    info = instance.event_log_storage.get_concurrency_info(pool)
    waiting = [p for p in info.pending_steps if p.assigned_timestamp is None]
    if not waiting:
        return []
    holders = ", ".join(f"run {h}" for h in _holders(info)) or "nobody (being freed)"
    return [f"step {p.step_key} of run {p.run_id} waits for the {pool} slot, held by {holders}" for p in waiting]


class WaitWatcher:
    """While a run executes in this process, print every 30 s which of its steps wait for the
    pool's slot and who holds it (a wait is otherwise silent)."""

    def __init__(self, instance: dg.DagsterInstance, pool: str, log: Callable[[str], None] = print, every: float = 30):
        import threading

        self.instance, self.pool, self.log, self.every = instance, pool, log, every
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        said: list[str] = []
        while not self.stop.wait(self.every):
            try:
                lines = waiting_report(self.instance, self.pool)
            except Exception:  # a watcher never breaks the run it watches
                continue
            if lines and lines != said:
                for line in lines:
                    self.log(line)
            said = lines

    def __enter__(self) -> WaitWatcher:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


class StepProgress:
    """While a run executes in this process, print a line per finished step: its assets' rows and
    its seconds (a long run is otherwise silent until its end). Reads the run's own event log."""

    def __init__(self, instance: dg.DagsterInstance, run_id: str, log: Callable[[str], None] = print, every=1.0):
        import threading

        self.instance, self.run_id, self.log, self.every = instance, run_id, log, every
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.cursor: str | None = None
        self.started: dict[str, float] = {}
        self.rows: dict[str, int] = {}

    def poll(self) -> None:
        from dagster import DagsterEventType

        kinds = {
            DagsterEventType.STEP_START,
            DagsterEventType.STEP_SUCCESS,
            DagsterEventType.STEP_FAILURE,
            DagsterEventType.ASSET_MATERIALIZATION,
        }
        connection = self.instance.get_records_for_run(self.run_id, cursor=self.cursor, of_type=kinds)
        self.cursor = connection.cursor
        for record in connection.records:
            entry = record.event_log_entry
            event = entry.dagster_event
            step = event.step_key
            if event.event_type == DagsterEventType.STEP_START:
                self.started[step] = entry.timestamp
            elif event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
                count = event.event_specific_data.materialization.metadata.get("dagster/row_count")
                if count is not None:
                    self.rows[step] = self.rows.get(step, 0) + int(count.value)
            else:
                seconds = entry.timestamp - self.started.get(step, entry.timestamp)
                rows = f", {self.rows[step]:,} rows" if step in self.rows else ""
                verdict = "done" if event.event_type == DagsterEventType.STEP_SUCCESS else "FAILED"
                self.log(f"{step:<40} {verdict} in {seconds:5.1f}s{rows}")

    def _watch(self) -> None:
        while not self.stop.wait(self.every):
            try:
                self.poll()
            except Exception:  # a watcher never breaks the run it watches
                continue

    def __enter__(self) -> StepProgress:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        with contextlib.suppress(Exception):
            self.poll()  # the last steps' lines
