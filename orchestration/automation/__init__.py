"""Automation: the daily schedule and the landing-zone sensor."""

from orchestration.automation.landing import build_landing_sensor, scan_landing
from orchestration.automation.schedules import build_daily_schedule

__all__ = ["build_daily_schedule", "build_landing_sensor", "scan_landing"]
