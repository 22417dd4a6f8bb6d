"""KPI alert rules on the marts, each a small function.

Monthly rules look at one KPI of the latest month of `kpi_monthly` and return an alert or None;
the first rule that fires for a KPI is its alert (a KPI three months below target is yellow, not
also blue). A monthly alert's check is named after its rule and KPI (`kpi_below_target:cac`), so
each KPI's alert is its own check: one per check and month in the dashboard, and the KPI tile
takes its level. Daily rules look at a daily series. Red alerts come from blocking checks and failed
runs, and from the `kpi_daily` anomaly below, which is a blocking check on the mart.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from core.quality.config import AlertingConfig
from core.quality.rules import CheckOutcome, volume_anomaly, worst


@dataclass(frozen=True)
class KpiAlert:
    level: str
    check: str
    partition: str
    message: str


def kpi_below_target(row, month: str, config: AlertingConfig) -> KpiAlert | None:
    """Yellow: a KPI missed its target this many months in a row."""
    if row.months_missed_in_a_row >= config.kpi.months_missed_yellow:
        return KpiAlert(
            "yellow",
            f"kpi_below_target:{row.kpi}",
            month,
            f"{row.kpi} missed its target {int(row.months_missed_in_a_row)} months in a row "
            f"({row.value:.4g} vs target {row.target:.4g})",
        )
    return None


def kpi_minor_deviation(row, month: str, config: AlertingConfig) -> KpiAlert | None:
    """Blue: a KPI missed its target by less than the minor gap."""
    if row.target and abs(row.gap) / abs(row.target) < config.kpi.minor_gap_blue:
        return KpiAlert(
            "blue",
            f"kpi_minor_deviation:{row.kpi}",
            month,
            f"{row.kpi} slightly below target ({row.value:.4g} vs {row.target:.4g}, "
            f"{abs(row.gap) / abs(row.target):.1%} off)",
        )
    return None


def complaint_spike(tickets: pd.Series, config: AlertingConfig) -> KpiAlert | None:
    """Yellow: the latest day's new tickets are several times the trailing median."""
    if not len(tickets):
        return None
    tickets = tickets.sort_index().astype(float)
    day = tickets.index.max()
    history = tickets[tickets.index < day].tail(config.complaints.trailing_days)
    if len(history) < 7:
        return None
    median = float(history.median())
    value = float(tickets.loc[day])
    if value >= config.complaints.min_tickets and value > config.complaints.ratio_yellow * max(median, 1.0):
        return KpiAlert(
            "yellow",
            "complaint_spike",
            str(pd.Timestamp(day).date()),
            f"{value:.0f} complaints on {pd.Timestamp(day).date()}, "
            f"{value / max(median, 1.0):.1f}x the trailing median {median:.0f}",
        )
    return None


MonthlyRule = Callable[..., KpiAlert | None]
MONTHLY_RULES: tuple[MonthlyRule, ...] = (kpi_below_target, kpi_minor_deviation)
DAILY_RULES = (complaint_spike,)


def kpi_alerts(monthly: pd.DataFrame, tickets_per_day: pd.Series, config: AlertingConfig) -> list[KpiAlert]:
    """Alerts for the latest month of `kpi_monthly` and the latest day of tickets."""
    alerts: list[KpiAlert] = []
    if not monthly.empty:
        latest = monthly["kpi_month"].max()
        for row in monthly[monthly["kpi_month"] == latest].itertuples():
            # meets_target may arrive as a numpy or pandas boolean, or a null when unknown.
            if pd.isna(row.meets_target) or bool(row.meets_target) or pd.isna(row.value) or pd.isna(row.target):
                continue
            month = pd.Timestamp(row.kpi_month).strftime("%Y-%m")
            alert = next((a for rule in MONTHLY_RULES if (a := rule(row, month, config)) is not None), None)
            if alert is not None:
                alerts.append(alert)
    for rule in DAILY_RULES:
        alert = rule(tickets_per_day, config)
        if alert is not None:
            alerts.append(alert)
    return alerts


def kpi_daily_anomaly(daily: pd.DataFrame, config: AlertingConfig) -> tuple[CheckOutcome, str | None]:
    """The latest day's orders and net revenue in `kpi_daily` against the trailing days; the worse counts.

    Returns the outcome and the day it judged (None when the mart has no days yet).
    """
    if daily.empty:
        return CheckOutcome(True, None, "no days yet"), None
    if "orders" not in config.volume.sources:
        return CheckOutcome(True, None, "not judged: orders is not among volume.sources"), None
    daily = daily.set_index(pd.to_datetime(daily["kpi_date"]).dt.date)
    last = daily.index.max()
    window = daily[(daily.index < last) & (daily.index >= last - dt.timedelta(days=config.volume.trailing_days))]
    outcomes = [
        volume_anomaly(window["orders"], float(daily.loc[last, "orders"]), config, f"orders on {last}"),
        volume_anomaly(
            window["net_revenue"].astype(float), float(daily.loc[last, "net_revenue"]), config, f"net revenue on {last}"
        ),
    ]
    return worst(outcomes), str(last)
