"""KPI alerts from the marts: yellow for a KPI below target three months running or a complaint
spike, blue for a minor miss. (Red alerts come from blocking checks and failed runs.)"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from lakehouse.quality import AlertingConfig


@dataclass(frozen=True)
class KpiAlert:
    level: str
    check: str
    partition: str
    message: str


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
            if row.months_missed_in_a_row >= config.kpi_months_missed_yellow:
                alerts.append(KpiAlert("yellow", "kpi_below_target", month,
                                       f"{row.kpi} missed its target {int(row.months_missed_in_a_row)} months in a row "
                                       f"({row.value:.4g} vs target {row.target:.4g})"))
            elif row.target and abs(row.gap) / abs(row.target) < config.kpi_minor_gap_blue:
                alerts.append(KpiAlert("blue", "kpi_minor_deviation", month,
                                       f"{row.kpi} slightly below target ({row.value:.4g} vs {row.target:.4g}, "
                                       f"{abs(row.gap) / abs(row.target):.1%} off)"))
    if len(tickets_per_day):
        tickets = tickets_per_day.sort_index().astype(float)
        day = tickets.index.max()
        history = tickets[tickets.index < day].tail(config.complaint_trailing_days)
        if len(history) >= 7:
            median = float(history.median())
            value = float(tickets.loc[day])
            if value >= config.complaint_min_tickets and value > config.complaint_ratio_yellow * max(median, 1.0):
                alerts.append(KpiAlert("yellow", "complaint_spike", str(pd.Timestamp(day).date()),
                                       f"{value:.0f} complaints on {pd.Timestamp(day).date()}, "
                                       f"{value / max(median, 1.0):.1f}x the trailing median {median:.0f}"))
    return alerts
