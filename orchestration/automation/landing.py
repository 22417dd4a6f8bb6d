"""The landing-zone sensor: new or changed export files start a run for their day.

The cursor remembers every file's signature (size and modification time), so a file is never
processed twice and never missed: a file that changes is seen again, and a file that arrives
late for an older day triggers that older day.
"""

import datetime as dt
import hashlib
import json
import re
from pathlib import Path

import dagster as dg

from orchestration.settings import Settings

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


def build_landing_sensor(job, settings: Settings, partitions_def: dg.PartitionsDefinition) -> dg.SensorDefinition:
    landing = Path(settings.landing_dir)

    @dg.sensor(name="landing_zone_sensor", job=job, minimum_interval_seconds=60,
               default_status=dg.DefaultSensorStatus.STOPPED,
               description="Starts a run for a day's partition when an export for that day lands or changes.")
    def landing_zone_sensor(context: dg.SensorEvaluationContext):
        previous = json.loads(context.cursor) if context.cursor else {}
        current = scan_landing(landing)
        days = changed_days(previous, current)
        if not days:
            return dg.SkipReason(f"no new or changed files in {landing}")
        valid = set(partitions_def.get_partition_keys(
            current_time=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)))
        requests = []
        for day in sorted(days):
            if day not in valid:
                context.log.warning(f"files for {day} are outside the partitioned range: {days[day][:3]}")
                continue
            digest = hashlib.sha256(json.dumps({f: current[f] for f in sorted(days[day])}).encode()).hexdigest()[:16]
            requests.append(dg.RunRequest(run_key=f"{day}:{digest}", partition_key=day, run_config=settings.run_config(),
                                          tags={"dmp/trigger": "landing_zone", "dmp/files": str(len(days[day]))}))
        return dg.SensorResult(run_requests=requests, cursor=json.dumps(current, sort_keys=True))

    return landing_zone_sensor
