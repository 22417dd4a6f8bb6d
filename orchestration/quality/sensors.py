"""Alert delivery: a webhook sensor for new alerts, and a run-failure sensor that raises red alerts."""

import os
from pathlib import Path

import dagster as dg

from lakehouse.alerts import list_alerts, post_json, record_alert
from lakehouse.quality import load_alerting_config
from orchestration.settings import Settings


def build_alert_sensors(settings: Settings) -> list:
    alerts_path = Path(settings.alerts_path)

    @dg.sensor(name="alert_webhook", minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
               description="Posts every new alert as JSON to DMP_ALERT_WEBHOOK_URL (retries, timeout); "
                           "never part of a run, so delivery problems cannot block the pipeline.")
    def alert_webhook(context: dg.SensorEvaluationContext):
        url = os.environ.get("DMP_ALERT_WEBHOOK_URL") or settings.alert_webhook_url
        cursor = int(context.cursor or 0)
        pending = list_alerts(alerts_path, after_id=cursor, limit=100)
        if not url:
            if pending:
                context.update_cursor(str(pending[-1].alert_id))
            return dg.SkipReason("no webhook configured (DMP_ALERT_WEBHOOK_URL); alerts stay in the table")
        if not pending:
            return dg.SkipReason("no new alerts")
        config = load_alerting_config(settings.alerting_config)
        delivered = 0
        for alert in pending:
            ok, detail = post_json(url, alert.to_json(), timeout=config.webhook_timeout_seconds,
                                   retries=config.webhook_retries, backoff=config.webhook_backoff_seconds)
            if not ok:
                context.log.warning(f"alert {alert.alert_id} not delivered ({detail}); will retry next tick")
                break
            delivered += 1
            context.update_cursor(str(alert.alert_id))
        return dg.SkipReason(f"delivered {delivered} of {len(pending)} new alert(s)")

    @dg.run_failure_sensor(name="run_failure_alerts", default_status=dg.DefaultSensorStatus.RUNNING,
                           monitor_all_code_locations=False,
                           description="Raises a red alert for every failed run (a pipeline outage).")
    def run_failure_alerts(context: dg.RunFailureSensorContext):
        run = context.dagster_run
        tags = run.tags or {}
        partition = tags.get("dagster/partition") or (
            f"{tags['dagster/asset_partition_range_start']}...{tags['dagster/asset_partition_range_end']}"
            if "dagster/asset_partition_range_start" in tags else None)
        message = context.failure_event.message or "run failed"
        record_alert(alerts_path, "red", f"run of {run.job_name} failed: {message}", asset=None,
                     check_name="run_failure", partition=partition, run_id=run.run_id)

    return [alert_webhook, run_failure_alerts]
