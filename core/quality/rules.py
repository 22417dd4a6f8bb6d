"""Platform checks that are not row rules: quarantine rate, schema drift, freshness, volume.

Pure functions from figures to a :class:`CheckOutcome`; no Dagster import. Every failed outcome
carries a level from the operating plan's alert scheme:
- red: a blocking data failure: downstream assets must not run on this data;
- yellow: a warning that needs attention but does not block;
- blue: a minor deviation for the routine improvement list.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from core.quality.config import AlertingConfig

RANK = {"red": 2, "yellow": 1}


@dataclass
class CheckOutcome:
    """One platform check: passed, its level if not, a message and numbers for the UI."""

    passed: bool
    level: str | None
    message: str
    metrics: dict[str, Any] = field(default_factory=dict)


def quarantine_rate(
    rows_read: int,
    rows_quarantined: int,
    config: AlertingConfig,
    value_read: float = 0.0,
    value_quarantined: float = 0.0,
) -> CheckOutcome:
    """yellow above the yellow rate; red above the red rate, once the partition has enough rows
    for a rate to mean something (a 6-row file with one bad row is yellow, not an outage).

    The rate is the larger of the share of rows and, where rows have a value (the contract's
    `value`, e.g. units x price), the share of value quarantined: a few bad rows that hold a large
    part of the day's revenue are as serious as many bad rows."""
    row_rate = rows_quarantined / rows_read if rows_read else 0.0
    value_share = value_quarantined / value_read if value_read else 0.0
    rate = max(row_rate, value_share)
    metrics = {
        "quarantine_rate": round(row_rate, 6),
        "rows_read": rows_read,
        "rows_quarantined": rows_quarantined,
        "value_share_quarantined": round(value_share, 6) if value_read else None,
    }
    what = f"{row_rate:.2%} of rows quarantined" + (f", holding {value_share:.2%} of the value" if value_read else "")
    thresholds = config.quarantine_rate
    if rate > thresholds.red and rows_read >= thresholds.min_rows_for_red:
        return CheckOutcome(False, "red", f"{what} (red above {thresholds.red:.0%})", metrics)
    if rate > thresholds.yellow:
        return CheckOutcome(False, "yellow", f"{what} (yellow above {thresholds.yellow:.0%})", metrics)
    return CheckOutcome(True, None, what, metrics)


def schema_drift(
    found: list[str], expected: dict[str, bool], invalid_share: dict[str, float], config: AlertingConfig
) -> CheckOutcome:
    """Compare an export's columns with the contract's (export name -> required).

    New columns and missing optional columns are yellow; a column whose values mostly fail their
    type (share of rows above `retyped_share`) has been retyped: red. Missing required columns
    never get here: collection rejects the file.
    """
    new = sorted(set(found) - set(expected))
    missing = sorted(c for c, required in expected.items() if not required and c not in found)
    retyped = sorted(c for c, share in invalid_share.items() if share > config.schema_drift.retyped_share)
    metrics = {"new_columns": new, "missing_optional_columns": missing, "retyped_columns": retyped}
    if retyped:
        return CheckOutcome(
            False, "red", f"retyped column(s) {retyped}: most values no longer parse as the contract's type", metrics
        )
    if new or missing:
        parts = ([f"new column(s) {new}"] if new else []) + (
            [
                f"optional column(s) {missing} vanished from the export and load as empty (NULL); if they were "
                "renamed, map the new names with mapping.columns"
            ]
            if missing
            else []
        )
        return CheckOutcome(False, "yellow", "; ".join(parts) + " (compared with the contract)", metrics)
    return CheckOutcome(True, None, "columns match the contract", metrics)


def freshness(latest_day: dt.date | None, today: dt.date, config: AlertingConfig) -> CheckOutcome:
    """The latest loaded day is not older than allowed (yesterday counts as fresh with lag 1)."""
    if latest_day is None:
        return CheckOutcome(False, "yellow", "no data loaded yet", {"lag_days": None})
    lag = (today - latest_day).days
    metrics = {"latest_day": latest_day.isoformat(), "lag_days": lag}
    if lag > config.freshness.max_lag_days:
        return CheckOutcome(
            False,
            "yellow",
            f"latest complete day {latest_day} is {lag} days old (allowed: {config.freshness.max_lag_days})",
            metrics,
        )
    return CheckOutcome(True, None, f"latest complete day {latest_day} ({lag} days ago)", metrics)


def volume_anomaly(history: pd.Series, value: float, config: AlertingConfig, what: str) -> CheckOutcome:
    """Compare a day's value with the trailing days (robust statistics: median and MAD).

    red: the value fell below `drop_ratio_red` x the trailing median (a silent drop of half the
    orders) while the median is at least `min_median_for_red` (below that a drop is Poisson noise
    and at most yellow); yellow: its robust z-score |x - median| / (1.4826 MAD) exceeds
    `robust_z_yellow`, or a drop below the ratio on a small median.
    With fewer than `min_history_days` days of history the check passes and says so.
    """
    hist = history.dropna().astype(float)
    if len(hist) < config.volume.min_history_days:
        return CheckOutcome(
            True,
            None,
            f"{what}: only {len(hist)} days of history, not judged",
            {"value": value, "history_days": len(hist)},
        )
    median = float(hist.median())
    mad = float((hist - median).abs().median())
    scale = 1.4826 * mad if mad > 0 else max(abs(median) * 0.05, 1e-9)
    z = (value - median) / scale
    metrics = {"value": value, "trailing_median": median, "robust_z": round(z, 3), "history_days": len(hist)}
    if median > 0 and value < config.volume.drop_ratio_red * median:
        level = "red" if median >= config.volume.min_median_for_red else "yellow"
        return CheckOutcome(
            False,
            level,
            f"{what} {value:,.0f} is below {config.volume.drop_ratio_red:.0%} of the trailing median {median:,.0f}",
            metrics,
        )
    if abs(z) > config.volume.robust_z_yellow:
        return CheckOutcome(
            False,
            "yellow",
            f"{what} {value:,.0f} is {z:+.1f} robust standard deviations from the trailing median {median:,.0f}",
            metrics,
        )
    return CheckOutcome(True, None, f"{what} {value:,.0f} vs trailing median {median:,.0f} (z {z:+.1f})", metrics)


def worst(outcomes: list[CheckOutcome]) -> CheckOutcome:
    """The outcome with the most severe level (the first of equals)."""
    return max(outcomes, key=lambda o: RANK.get(o.level or "", 0))


def worst_day_volume(
    rows_per_day: pd.Series,
    days: list[dt.date],
    config: AlertingConfig,
    source: str,
    closed: Callable[[dt.date], bool] = lambda day: False,
) -> CheckOutcome:
    """The day of `days` whose rows deviate most from its trailing days (a range run judges each day).

    `rows_per_day` covers the trailing window before the first day through the last; days before
    the source existed (no rows) and the business's closed days are not history, and a closed day
    is not judged. With `volume.compare: same_weekday` a day is compared with the same weekday of
    the trailing window only (a quiet Sunday against Sundays).
    """
    outcomes = []
    for day in days:
        if closed(day):
            outcomes.append(CheckOutcome(True, None, f"{source}: {day} is a closed day, not judged"))
            continue
        trailing = rows_per_day[
            (rows_per_day.index >= day - dt.timedelta(days=config.volume.trailing_days)) & (rows_per_day.index < day)
        ]
        trailing = trailing[[d for d in trailing.index if not closed(d)]]
        if config.volume.compare == "same_weekday":
            trailing = trailing[[d.weekday() == day.weekday() for d in trailing.index]]
        trailing = trailing[trailing > 0]
        outcomes.append(volume_anomaly(trailing, float(rows_per_day.get(day, 0)), config, f"{source} rows on {day}"))
    return worst(outcomes)
