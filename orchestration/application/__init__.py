"""Layer 5, application: the retention and demand models, A/B test analysis, KPI alerts, the dashboard."""

import dagster as dg

from orchestration.application import demand, retention
from orchestration.application.dashboard import build_dashboard_asset
from orchestration.application.experiments import ab_test_results
from orchestration.application.kpi_alerts import build_kpi_alerts_asset
from orchestration.platform import Platform


def defs(platform: Platform) -> dg.Definitions:
    """The application assets (their jobs and schedules are in `orchestration/automation/`)."""
    return dg.Definitions(
        assets=[
            *retention.ASSETS,
            *demand.ASSETS,
            ab_test_results,
            build_kpi_alerts_asset(platform.alerting),
            build_dashboard_asset(platform.settings.currency),
        ]
    )
