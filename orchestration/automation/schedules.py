"""The schedules: every layer daily for the latest complete day, and the weekly model retraining."""

import datetime as dt

import dagster as dg

from core.settings import Settings


def daily_schedule(job, partitions_def: dg.TimeWindowPartitionsDefinition, settings: Settings) -> dg.ScheduleDefinition:
    """Runs `job` at the configured time and timezone for the last complete UTC day."""
    run_config = settings.run_config()
    first = partitions_def.start.date()
    last = settings.partitions_end

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
        now = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
        day = (now.astimezone(dt.UTC) - dt.timedelta(days=1)).date()
        if day < first:
            return dg.SkipReason(f"{day} is before the first partition {first}")
        if last is not None and day > last:
            return dg.SkipReason(f"{day} is after the last partition {last} (DMP_PARTITIONS_END)")
        return dg.RunRequest(
            run_key=f"daily:{day}",
            partition_key=day.isoformat(),
            run_config=run_config,
            tags={"dmp/trigger": "daily_schedule"},
        )

    return daily_platform_schedule


def weekly_training_schedule(job, settings: Settings) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="weekly_model_training",
        job=job,
        cron_schedule=settings.retrain_cron,
        run_config=settings.run_config(),
        execution_timezone=settings.schedule_timezone,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="Retrains the models every week (DMP_RETRAIN_CRON, in DMP_SCHEDULE_TIMEZONE).",
    )
