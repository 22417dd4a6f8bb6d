"""The sensors: the landing zone (new or changed exports start a run for their day), alert delivery
to a webhook, and a red alert for every failed run.

The landing sensor's cursor remembers every file's signature (size and modification time), so a file is never
processed twice and never missed: a file that changes is seen again, and a file that arrives
late for an older day triggers that older day.
"""

import datetime as dt
import hashlib
import json
import re
from pathlib import Path

import dagster as dg

from core.alerts.delivery import deliver
from core.quality.config import Webhook
from orchestration.metadata import partition_label
from orchestration.recovery import reap_dead_runs
from orchestration.resources import AlertsResource, LakeResource

DAY_PREFIX = re.compile(r"^(\d{4}-\d{2}-\d{2})")


def scan_landing(landing: Path) -> dict[str, str]:
    """relative path -> signature ("size:mtime_ns") of every export file in the landing zone."""
    files = {}
    if not landing.is_dir():
        return files
    for path in sorted(landing.glob("*/*")):
        if path.is_file() and DAY_PREFIX.match(path.name):
            stat = path.stat()
            files[str(path.relative_to(landing))] = f"{stat.st_size}:{stat.st_mtime_ns}"
    return files


def changed_days(previous: dict[str, str], current: dict[str, str]) -> dict[str, list[str]]:
    """Partition day -> the files that are new or changed since the previous scan."""
    days: dict[str, list[str]] = {}
    for rel, signature in current.items():
        if previous.get(rel) != signature:
            day = DAY_PREFIX.match(Path(rel).name).group(1)
            days.setdefault(day, []).append(rel)
    return days


def landing_sensor(job, partitions_def: dg.PartitionsDefinition, run_config: dict) -> dg.SensorDefinition:
    @dg.sensor(
        name="landing_zone_sensor",
        job=job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Starts a run for a day's partition when an export for that day lands or changes.",
    )
    def landing_zone_sensor(context: dg.SensorEvaluationContext, lake: LakeResource):
        landing = lake.landing
        previous = json.loads(context.cursor) if context.cursor else {}
        current = scan_landing(landing)
        days = changed_days(previous, current)
        if not days:
            return dg.SkipReason(f"no new or changed files in {landing}")
        valid = set(partitions_def.get_partition_keys(current_time=dt.datetime.now(dt.UTC) + dt.timedelta(days=1)))
        requests = []
        for day in sorted(days):
            if day not in valid:
                context.log.warning(f"files for {day} are outside the partitioned range: {days[day][:3]}")
                continue
            digest = hashlib.sha256(json.dumps({f: current[f] for f in sorted(days[day])}).encode()).hexdigest()[:16]
            requests.append(
                dg.RunRequest(
                    run_key=f"{day}:{digest}",
                    partition_key=day,
                    run_config=run_config,
                    tags={"dmp/trigger": "landing_zone", "dmp/files": str(len(days[day]))},
                )
            )
        return dg.SensorResult(run_requests=requests, cursor=json.dumps(current, sort_keys=True))

    return landing_zone_sensor


def alert_webhook_sensor(webhook: Webhook) -> dg.SensorDefinition:
    @dg.sensor(
        name="alert_webhook",
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Posts every new alert as JSON to DMP_ALERT_WEBHOOK_URL (retries, timeout); "
        "never part of a run, so delivery problems cannot block the pipeline.",
    )
    def alert_webhook(context: dg.SensorEvaluationContext, alerts: AlertsResource):
        cursor = int(context.cursor or 0)
        pending = alerts.pending(after_id=cursor)
        if not alerts.webhook_url:
            if pending:
                context.update_cursor(str(pending[-1].alert_id))
            return dg.SkipReason("no webhook configured (DMP_ALERT_WEBHOOK_URL); alerts stay in the table")
        if not pending:
            return dg.SkipReason("no new alerts")
        delivered, problem = deliver(
            pending, alerts.webhook_url, webhook, on_delivered=lambda alert: context.update_cursor(str(alert.alert_id))
        )
        if problem:
            context.log.warning(f"{problem}; will retry next tick")
        return dg.SkipReason(f"delivered {delivered} of {len(pending)} new alert(s)")

    return alert_webhook


def _run_partition(tags: dict) -> str | None:
    if "dagster/partition" in tags:
        return tags["dagster/partition"]
    if "dagster/asset_partition_range_start" in tags:
        first = dt.date.fromisoformat(tags["dagster/asset_partition_range_start"])
        last = dt.date.fromisoformat(tags["dagster/asset_partition_range_end"])
        return partition_label(sorted({first, last}))  # a one-day range is that day
    return None


@dg.run_failure_sensor(
    name="run_failure_alerts",
    default_status=dg.DefaultSensorStatus.RUNNING,
    monitor_all_code_locations=False,
    description="Raises a red alert for every failed run (a pipeline outage).",
)
def run_failure_alerts(context: dg.RunFailureSensorContext, alerts: AlertsResource):
    raise_run_failure(alerts, context.dagster_run, context.failure_event.message)


def raise_run_failure(alerts: AlertsResource, run: dg.DagsterRun, failure_message: str | None) -> int:
    """The red alert of a failed run. The sensor raises it for runs the daemon sees; a run started
    from the command line raises it itself (no daemon may be running). Either may come second: the
    alert is recorded once per run."""
    return alerts.raise_alert(
        "red",
        f"run of {run.job_name} failed: {failure_message or 'run failed'}",
        asset=None,
        check_name="run_failure",
        partition=_run_partition(run.tags or {}),
        run_id=run.run_id,
        dedupe=True,
    )


@dg.sensor(
    name="dead_run_reaper",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks failed the runs whose process is gone (killed, crashed) and frees their warehouse "
    "slots, so they never block the runs after them.",
)
def dead_run_reaper(context: dg.SensorEvaluationContext):
    reaped = reap_dead_runs(context.instance, log=context.log.warning)
    return dg.SkipReason(f"freed {len(reaped)} dead run(s)" if reaped else "no dead runs")
