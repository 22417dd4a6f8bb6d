"""Automation: the jobs, and every schedule and sensor of the platform (one place for all of them)."""

import dagster as dg

from orchestration.automation.jobs import model_job, platform_job
from orchestration.automation.schedules import daily_schedule, weekly_training_schedule
from orchestration.automation.sensors import alert_webhook_sensor, dead_run_reaper, landing_sensor, run_failure_alerts
from orchestration.platform import Platform


def defs(platform: Platform) -> dg.Definitions:
    daily, training = platform_job(platform.partitions), model_job()
    settings = platform.settings
    return dg.Definitions(
        jobs=[daily, training],
        schedules=[daily_schedule(daily, platform.partitions, settings), weekly_training_schedule(training, settings)],
        sensors=[
            landing_sensor(daily, platform.partitions, settings.run_config()),
            alert_webhook_sensor(platform.alerting.webhook),
            run_failure_alerts,
            dead_run_reaper,
        ],
    )
