"""Request a backfill of a date range: a Dagster backfill that the daemon executes.

    python -m orchestration.backfill --start 2026-02-01 --end 2026-02-28 [--wait]

This is the same request as the UI's "Launch backfill" on the `platform_daily` job's Partitions
page: a job backfill over the range's partitions, stored in the instance. The daemon's backfill
loop picks it up and, because every partitioned asset has a single-run backfill policy, submits
ONE run for the whole range (tagged `dagster/backfill=<id>`); the run queue starts it when a slot
and the backfill's share of slots (see deploy/dagster*.yaml) allow. The daemon must be running
(`make daemon`, or `make ui`, which runs one). The backfill shows in the UI under Runs -> Backfills.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

from core.settings import PROJECT_ROOT

DEFAULT_JOB = "platform_daily"
DEFAULT_WORKSPACE = PROJECT_ROOT / "workspace.yaml"
DAEMON_HEARTBEAT_TOLERANCE_SECONDS = 120
# The run's steps mostly queue for the one-slot warehouse pool, so a process per step (Dagster's
# default multiprocess executor) buys little and costs a Python start-up per step.
EXECUTORS = ("in_process", "multiprocess")


class BackfillError(RuntimeError):
    """The backfill could not be requested as asked."""


def request_backfill(
    instance,
    workspace: Path,
    start: dt.date,
    end: dt.date,
    job_name: str = DEFAULT_JOB,
    tags: dict[str, str] | None = None,
    title: str | None = None,
    executor: str = "in_process",
    groups: list[str] | None = None,
) -> str:
    """Store a backfill of `job_name` over the partitions [start, end] in the instance; return its id.

    `groups` limits it to the job's assets in those asset groups (layers); by default it is all of them.
    """
    from dagster._core.definitions.partitions.partition_key_range import PartitionKeyRange
    from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
    from dagster._core.utils import make_new_backfill_id
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget
    from dagster._time import get_current_timestamp

    if end < start:
        raise BackfillError(f"the range ends ({end}) before it starts ({start})")
    with WorkspaceProcessContext(instance, WorkspaceFileTarget(paths=[str(workspace)])) as context:
        request = context.create_request_context()
        partition_set, repository = None, None
        for entry in request.get_code_location_entries().values():
            if entry.load_error is not None:
                raise BackfillError(
                    f"code location {entry.origin.location_name} failed to load: {entry.load_error.to_string()}"
                )
            for repo in entry.code_location.get_repositories().values():
                found = next((p for p in repo.get_partition_sets() if p.job_name == job_name), None)
                if found is not None:
                    partition_set, repository = found, repo
        if partition_set is None:
            raise BackfillError(f"no partitioned job {job_name!r} in the workspace {workspace}")
        selection = None
        if groups:
            nodes = repository.get_asset_node_snaps(job_name)
            selection = [n.asset_key for n in nodes if n.group_name in groups]
            unknown = set(groups) - {n.group_name for n in nodes}
            if unknown:
                raise BackfillError(
                    f"{job_name} has no assets in group(s) {sorted(unknown)}; its groups are "
                    f"{sorted({n.group_name for n in nodes})}"
                )
        partitions_def = partition_set.get_partitions_definition()
        known = partitions_def.get_partition_keys()
        for day in (start, end):
            if day.isoformat() not in known:
                raise BackfillError(f"{day} is not a partition of {job_name} (partitions {known[0]}..{known[-1]})")
        names = partitions_def.get_partition_keys_in_range(PartitionKeyRange(start.isoformat(), end.isoformat()))
        backfill = PartitionBackfill(
            backfill_id=make_new_backfill_id(),
            partition_set_origin=partition_set.get_remote_origin(),
            status=BulkActionStatus.REQUESTED,
            partition_names=names,
            from_failure=False,
            reexecution_steps=None,
            tags={"dmp/trigger": "backfill", **(tags or {})},
            backfill_timestamp=get_current_timestamp(),
            title=title or f"{job_name} {start}..{end}" + (f" ({', '.join(groups)})" if groups else ""),
            asset_selection=selection,
            run_config={"execution": {"config": {executor: {}}}},
        )
        instance.add_backfill(backfill)
        return backfill.backfill_id


def backfill_daemon_alive(instance) -> bool:
    """True when a daemon has reported its backfill loop within the last two minutes."""
    heartbeat = instance.get_daemon_heartbeats().get("BACKFILL")
    return heartbeat is not None and time.time() - heartbeat.timestamp < DAEMON_HEARTBEAT_TOLERANCE_SECONDS


class BackfillAbandoned(RuntimeError):
    """The wait for a backfill ended before the backfill did (timeout, interrupt, or no daemon left)."""


def wait_for_backfill(instance, backfill_id: str, timeout: float, poll: float = 2.0, echo=print):
    """Poll until the backfill reaches a terminal status; return (status, [(run_id, run status)]).

    Raises BackfillAbandoned after `timeout` seconds, and at once when the daemon stops reporting
    while the backfill has not launched its run yet (nothing would ever execute it)."""
    from dagster import DagsterRunStatus, RunsFilter
    from dagster._core.execution.backfill import BULK_ACTION_TERMINAL_STATUSES
    from dagster._core.storage.dagster_run import DagsterRun

    deadline = time.monotonic() + timeout
    seen: dict[str, DagsterRunStatus] = {}
    while True:
        backfill = instance.get_backfill(backfill_id)
        runs = instance.get_runs(RunsFilter(tags=DagsterRun.tags_for_backfill_id(backfill_id)))
        for run in runs:
            if seen.get(run.run_id) != run.status:
                seen[run.run_id] = run.status
                echo(f"  run {run.run_id}: {run.status.value}")
        if backfill.status in BULK_ACTION_TERMINAL_STATUSES:
            return backfill.status, [(r.run_id, r.status) for r in runs]
        if not runs and not backfill_daemon_alive(instance):
            raise BackfillAbandoned(f"backfill {backfill_id}: the Dagster daemon stopped before it launched the run")
        if time.monotonic() > deadline:
            raise BackfillAbandoned(f"backfill {backfill_id} still {backfill.status.value} after {timeout:.0f}s")
        time.sleep(poll)


def cancel_if_unlaunched(instance, backfill_id: str) -> bool:
    """Cancel a backfill that has not launched any run yet; True if it was cancelled.

    A request left behind by a command that gave up would otherwise run later, when some daemon
    starts, by surprise. A backfill whose run has started is left alone (cancel it in the UI)."""
    from dagster import RunsFilter
    from dagster._core.execution.backfill import BulkActionStatus
    from dagster._core.storage.dagster_run import DagsterRun

    backfill = instance.get_backfill(backfill_id)
    if backfill is None or backfill.status != BulkActionStatus.REQUESTED:
        return False
    if instance.get_runs(RunsFilter(tags=DagsterRun.tags_for_backfill_id(backfill_id)), limit=1):
        return False
    instance.update_backfill(backfill.with_status(BulkActionStatus.CANCELED))
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m orchestration.backfill",
        description="Request a backfill of a date range (executed by the daemon).",
    )
    parser.add_argument("--start", required=True, type=dt.date.fromisoformat, help="first day (YYYY-MM-DD)")
    parser.add_argument("--end", required=True, type=dt.date.fromisoformat, help="last day, inclusive")
    parser.add_argument("--job", default=DEFAULT_JOB, help=f"partitioned job to backfill (default {DEFAULT_JOB})")
    parser.add_argument("--workspace", type=Path, default=DEFAULT_WORKSPACE, help="workspace file")
    parser.add_argument(
        "--group",
        action="append",
        dest="groups",
        metavar="GROUP",
        help="only the job's assets in this group (layer: collection, storage, processing, ...); "
        "repeat for several; default every asset of the job",
    )
    parser.add_argument("--title", help="title shown in the UI")
    parser.add_argument(
        "--executor",
        choices=EXECUTORS,
        default=None,
        help="run the steps in the run's process or one process per step "
        "(default: DMP_EXECUTOR, which defaults to in_process)",
    )
    parser.add_argument(
        "--wait",
        action="store_true",
        help="wait until the backfill finishes; refuses at once when no daemon runs, and cancels the "
        "request if it gives up before the run started",
    )
    parser.add_argument(
        "--timeout", type=float, default=6 * 3600, help="seconds to wait with --wait (default: %(default)s)"
    )
    args = parser.parse_args(argv)

    import dagster as dg

    from core.settings import get_settings
    from orchestration.cli import ensure_dagster_home
    from orchestration.recovery import reap_dead_runs

    executor = args.executor or get_settings().executor

    ensure_dagster_home()
    with dg.DagsterInstance.get() as instance:
        reap_dead_runs(instance)
        daemon = backfill_daemon_alive(instance)
        if args.wait and not daemon:
            parser.exit(
                2,
                "error: no Dagster daemon is running for this instance, so nothing would execute "
                "the backfill; start one (`make daemon`, or `make ui`) and run this again\n",
            )
        try:
            backfill_id = request_backfill(
                instance,
                args.workspace,
                args.start,
                args.end,
                args.job,
                title=args.title,
                executor=executor,
                groups=args.groups,
            )
        except BackfillError as exc:
            parser.exit(2, f"error: {exc}\n")
        print(
            f"backfill {backfill_id}: {args.job} {args.start}..{args.end} requested "
            f"(UI: Runs > Backfills, /runs/b/{backfill_id})"
        )
        if not daemon:
            print(
                "warning: no Dagster daemon is running for this instance; the backfill waits until one "
                "starts (`make daemon` or `make ui`)",
                file=sys.stderr,
            )
        if not args.wait:
            return 0
        try:
            status, runs = wait_for_backfill(instance, backfill_id, args.timeout)
        except (BackfillAbandoned, KeyboardInterrupt) as exc:
            cancelled = cancel_if_unlaunched(instance, backfill_id)
            reason = str(exc) or "interrupted"
            what = "it had not started, so it is cancelled" if cancelled else "its run goes on (UI: Runs > Backfills)"
            print(f"error: {reason}; {what}", file=sys.stderr)
            return 1
        print(f"backfill {backfill_id}: {status.value} ({len(runs)} run(s))")
        return 0 if status.value == "COMPLETED_SUCCESS" else 1


if __name__ == "__main__":
    raise SystemExit(main())
