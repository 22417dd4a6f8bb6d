"""The daily schedule: every layer for the latest complete day (yesterday, UTC partitions)."""

import datetime as dt

import dagster as dg

from orchestration.settings import Settings


def build_daily_schedule(job, settings: Settings) -> dg.ScheduleDefinition:
    """Runs `job` at the configured time and timezone for the last complete UTC day."""

    @dg.schedule(
        name="daily_platform_schedule",
        job=job,
        cron_schedule=f"{settings.schedule_minute} {settings.schedule_hour} * * *",
        execution_timezone=settings.schedule_timezone,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="Every layer for yesterday's partition; time and timezone from DMP_SCHEDULE_HOUR, "
                    "DMP_SCHEDULE_MINUTE and DMP_SCHEDULE_TIMEZONE.",
    )
    def daily_platform_schedule(context: dg.ScheduleEvaluationContext):
        now = context.scheduled_execution_time or dt.datetime.now(dt.timezone.utc)
        day = (now.astimezone(dt.timezone.utc) - dt.timedelta(days=1)).date()
        if day < settings.partitions_start:
            return dg.SkipReason(f"{day} is before the first partition {settings.partitions_start}")
        return dg.RunRequest(run_key=f"daily:{day}", partition_key=day.isoformat(),
                             run_config=settings.run_config(), tags={"dmp/trigger": "daily_schedule"})

    return daily_platform_schedule
