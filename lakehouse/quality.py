"""Data-quality rules that are not row rules: Great Expectations suites, quarantine rates, schema
drift, freshness and volume anomalies. Pure functions: no Dagster import.

Every result carries a level from the operating plan's alert scheme:
- red: a blocking data failure: downstream assets must not run on this data;
- yellow: a warning that needs attention but does not block;
- blue: a minor deviation for the routine improvement list.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import yaml

LEVELS = ("red", "yellow", "blue")


class QualityConfigError(ValueError):
    """A suite or the alerting configuration is invalid; the message names the file and field."""


# ------------------------------------------------------------------ configuration
@dataclass(frozen=True)
class AlertingConfig:
    quarantine_yellow: float = 0.02
    quarantine_red: float = 0.10
    quarantine_min_rows_red: int = 200
    retyped_share: float = 0.5
    freshness_max_lag_days: int = 2
    freshness_sources: tuple[str, ...] = ("orders",)
    volume_trailing_days: int = 28
    volume_min_history_days: int = 7
    volume_drop_ratio_red: float = 0.5
    volume_robust_z_yellow: float = 4.0
    volume_min_median_red: float = 50.0
    volume_sources: tuple[str, ...] = ("orders", "events")
    kpi_months_missed_yellow: int = 3
    kpi_minor_gap_blue: float = 0.10
    complaint_trailing_days: int = 28
    complaint_ratio_yellow: float = 3.0
    complaint_min_tickets: int = 5
    webhook_timeout_seconds: float = 5.0
    webhook_retries: int = 3
    webhook_backoff_seconds: float = 1.0


def load_alerting_config(path: Path) -> AlertingConfig:
    """Read `expectations/alerting.yaml` (levels and thresholds in one place)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise QualityConfigError(f"{path}: cannot read the alerting configuration: {exc}") from exc
    flat: dict[str, Any] = {}
    sections = {
        "quarantine_rate": {"yellow": "quarantine_yellow", "red": "quarantine_red",
                            "min_rows_for_red": "quarantine_min_rows_red"},
        "schema_drift": {"retyped_share": "retyped_share"},
        "freshness": {"max_lag_days": "freshness_max_lag_days", "sources": "freshness_sources"},
        "volume": {"trailing_days": "volume_trailing_days", "min_history_days": "volume_min_history_days",
                   "drop_ratio_red": "volume_drop_ratio_red", "robust_z_yellow": "volume_robust_z_yellow",
                   "min_median_for_red": "volume_min_median_red", "sources": "volume_sources"},
        "kpi": {"months_missed_yellow": "kpi_months_missed_yellow", "minor_gap_blue": "kpi_minor_gap_blue"},
        "complaints": {"trailing_days": "complaint_trailing_days", "ratio_yellow": "complaint_ratio_yellow",
                       "min_tickets": "complaint_min_tickets"},
        "webhook": {"timeout_seconds": "webhook_timeout_seconds", "retries": "webhook_retries",
                    "backoff_seconds": "webhook_backoff_seconds"},
    }
    for section, values in raw.items():
        if section not in sections:
            raise QualityConfigError(f"{path}: unknown section {section!r}; known: {sorted(sections)}")
        for key, value in (values or {}).items():
            if key not in sections[section]:
                raise QualityConfigError(f"{path}: {section}.{key} is unknown; known: {sorted(sections[section])}")
            flat[sections[section][key]] = tuple(value) if isinstance(value, list) else value
    config = AlertingConfig(**flat)
    if not 0 <= config.quarantine_yellow <= config.quarantine_red <= 1:
        raise QualityConfigError(f"{path}: quarantine_rate needs 0 <= yellow <= red <= 1")
    return config


# ------------------------------------------------------------------ Great Expectations suites
@dataclass(frozen=True)
class Suite:
    name: str
    asset: str  # asset key as a path string, e.g. "raw/orders"
    level: str
    sample_rows: int
    expectations: tuple[dict, ...]
    path: Path


def load_suite(path: Path) -> Suite:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise QualityConfigError(f"{path}: not a readable JSON suite: {exc}") from exc
    meta = raw.get("meta") or {}
    if "asset" not in meta:
        raise QualityConfigError(f"{path}: meta.asset (the asset the suite guards, e.g. 'raw/orders') is missing")
    level = meta.get("level", "yellow")
    expectations = raw.get("expectations") or []
    if not expectations:
        raise QualityConfigError(f"{path}: the suite has no expectations")
    for i, exp in enumerate(expectations):
        lvl = (exp.get("meta") or {}).get("level", level)
        if lvl not in LEVELS:
            raise QualityConfigError(f"{path}: expectations[{i}].meta.level {lvl!r} is not one of {LEVELS}")
        if "type" not in exp or "kwargs" not in exp:
            raise QualityConfigError(f"{path}: expectations[{i}] needs 'type' and 'kwargs'")
    if level not in LEVELS:
        raise QualityConfigError(f"{path}: meta.level {level!r} is not one of {LEVELS}")
    seen: dict[tuple, int] = {}
    for i, exp in enumerate(expectations):
        domain = (exp["type"], exp["kwargs"].get("column"), exp["kwargs"].get("column_A"), exp["kwargs"].get("column_B"))
        if domain in seen:
            raise QualityConfigError(
                f"{path}: expectations[{i}] repeats the type and column of expectations[{seen[domain]}] "
                f"({exp['type']} on {domain[1] or domain[2:]}); Great Expectations keeps only one of them: "
                f"use another expectation type for the second threshold")
        seen[domain] = i
    return Suite(name=raw.get("name", path.stem), asset=meta["asset"], level=level,
                 sample_rows=int(meta.get("sample_rows", 100_000)), expectations=tuple(expectations), path=path)


def load_suites(folder: Path) -> dict[str, Suite]:
    """Every suite in the folder, by the asset it guards."""
    suites = [load_suite(p) for p in sorted(folder.glob("*.json"))]
    by_asset: dict[str, Suite] = {}
    for suite in suites:
        if suite.asset in by_asset:
            raise QualityConfigError(f"{suite.path}: a second suite for {suite.asset} "
                                     f"(first: {by_asset[suite.asset].path}); merge them")
        by_asset[suite.asset] = suite
    return by_asset


@dataclass
class ExpectationOutcome:
    expectation: str
    column: str | None
    level: str
    success: bool
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    observed_value: Any = None
    failing_values: list = field(default_factory=list)
    skipped: str | None = None


@dataclass
class SuiteOutcome:
    suite: str
    rows_validated: int
    rows_total: int
    outcomes: list[ExpectationOutcome]

    def failed(self, level: str) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if o.level == level and not o.success]

    def of_level(self, level: str) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if o.level == level]


_PLACEHOLDER = re.compile(r"^\$\{([a-z_]+)(?::([\w.]+))?\}$")


def _resolve(value: Any, params: dict[str, Any], lookup: Callable[[str], list] | None):
    """Replace `${name}` by a run parameter and `${known:table.column}` by the values found there."""
    if isinstance(value, str):
        match = _PLACEHOLDER.match(value)
        if match:
            name, arg = match.groups()
            if name == "known":
                if lookup is None:
                    raise KeyError("known")
                return lookup(arg)
            if name not in params:
                raise KeyError(name)
            return params[name]
    return value


def validate(suite: Suite, df: pd.DataFrame, params: dict[str, Any] | None = None,
             lookup: Callable[[str], list] | None = None, seed: int = 0) -> SuiteOutcome:
    """Run the suite on the frame (a deterministic sample of at most suite.sample_rows rows).

    Uses the Great Expectations 1.x API directly with an ephemeral context. Expectations whose
    dynamic arguments cannot be resolved (a reference table with no rows) are reported as skipped
    and count as passed.
    """
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    params = params or {}
    total = len(df)
    sample = df.sample(n=suite.sample_rows, random_state=seed) if total > suite.sample_rows else df
    gx_suite = gx.ExpectationSuite(name=suite.name)
    levels, skipped = [], []
    for exp in suite.expectations:
        meta = exp.get("meta") or {}
        try:
            kwargs = {k: _resolve(v, params, lookup) for k, v in exp["kwargs"].items()}
        except KeyError as exc:
            skipped.append(ExpectationOutcome(exp["type"], exp["kwargs"].get("column"), meta.get("level", suite.level),
                                              True, skipped=f"no value for {exc.args[0]}"))
            continue
        if isinstance(kwargs.get("value_set"), list) and not kwargs["value_set"]:
            skipped.append(ExpectationOutcome(exp["type"], kwargs.get("column"), meta.get("level", suite.level), True,
                                              skipped="reference set is empty"))
            continue
        tagged = {**meta, "platform_index": len(levels)}
        gx_suite.add_expectation_configuration(ExpectationConfiguration(type=exp["type"], kwargs=kwargs, meta=tagged))
        levels.append(meta.get("level", suite.level))
    outcomes = list(skipped)
    if levels:
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        batch = (context.data_sources.add_pandas("frames").add_dataframe_asset(suite.name)
                 .add_batch_definition_whole_dataframe("all").get_batch(batch_parameters={"dataframe": sample}))
        result = batch.validate(gx_suite, result_format="SUMMARY")
        by_index = {r.expectation_config.meta["platform_index"]: r for r in result.results}
        for index, level in enumerate(levels):
            r = by_index.get(index)
            if r is None:
                config = gx_suite.expectations[index].configuration
                outcomes.append(ExpectationOutcome(config.type, config.kwargs.get("column"), level, False,
                                                   skipped="Great Expectations returned no result for it"))
                continue
            config = r.expectation_config
            res = r.result or {}
            outcomes.append(ExpectationOutcome(
                expectation=config.type, column=config.kwargs.get("column"), level=level, success=bool(r.success),
                unexpected_count=res.get("unexpected_count"), unexpected_percent=res.get("unexpected_percent"),
                observed_value=_plain(res.get("observed_value")),
                failing_values=[_plain(v) for v in (res.get("partial_unexpected_list") or [])[:5]],
            ))
    return SuiteOutcome(suite=suite.name, rows_validated=len(sample), rows_total=total, outcomes=outcomes)


def _plain(value: Any) -> Any:
    if isinstance(value, (np.generic,)):
        return value.item()
    if isinstance(value, (pd.Timestamp, dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value if isinstance(value, (int, float, str, bool, type(None))) else str(value)


# ------------------------------------------------------------------ platform checks
@dataclass
class CheckOutcome:
    """One platform check: passed, its level if not, a message and numbers for the UI."""

    passed: bool
    level: str | None
    message: str
    metrics: dict[str, Any] = field(default_factory=dict)


def quarantine_rate(rows_read: int, rows_quarantined: int, config: AlertingConfig) -> CheckOutcome:
    """yellow above the yellow rate; red above the red rate, once the partition has enough rows
    for a rate to mean something (a 6-row file with one bad row is yellow, not an outage)."""
    rate = rows_quarantined / rows_read if rows_read else 0.0
    metrics = {"quarantine_rate": round(rate, 6), "rows_read": rows_read, "rows_quarantined": rows_quarantined}
    if rate > config.quarantine_red and rows_read >= config.quarantine_min_rows_red:
        return CheckOutcome(False, "red", f"{rate:.1%} of rows quarantined (red above {config.quarantine_red:.0%})",
                            metrics)
    if rate > config.quarantine_yellow:
        return CheckOutcome(False, "yellow",
                            f"{rate:.1%} of rows quarantined (yellow above {config.quarantine_yellow:.0%})", metrics)
    return CheckOutcome(True, None, f"{rate:.2%} of rows quarantined", metrics)


def export_columns(path: Path, fmt: str, delimiter: str, encoding: str, sample_lines: int = 200) -> list[str]:
    """The columns an export file has: its CSV header, or the keys seen in its first JSON lines."""
    if fmt == "csv":
        import csv
        import io

        with path.open("r", encoding=encoding, errors="replace", newline="") as fh:
            return [h.strip() for h in next(csv.reader(io.StringIO(fh.readline()), delimiter=delimiter), [])]
    keys: list[str] = []
    with path.open("r", encoding=encoding, errors="replace") as fh:
        for _, line in zip(range(sample_lines), fh):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                keys.extend(k for k in record if k not in keys)
    return keys


def schema_drift(found: list[str], expected: dict[str, bool], invalid_share: dict[str, float],
                 config: AlertingConfig) -> CheckOutcome:
    """Compare an export's columns with the contract's (export name -> required).

    New columns and missing optional columns are yellow; a column whose values mostly fail their
    type (share of rows above `retyped_share`) has been retyped: red. Missing required columns
    never get here: collection rejects the file.
    """
    new = sorted(set(found) - set(expected))
    missing = sorted(c for c, required in expected.items() if not required and c not in found)
    retyped = sorted(c for c, share in invalid_share.items() if share > config.retyped_share)
    metrics = {"new_columns": new, "missing_optional_columns": missing, "retyped_columns": retyped}
    if retyped:
        return CheckOutcome(False, "red", f"retyped column(s) {retyped}: most values no longer parse as the "
                                          f"contract's type", metrics)
    if new or missing:
        parts = ([f"new column(s) {new}"] if new else []) + ([f"missing optional column(s) {missing}"] if missing else [])
        return CheckOutcome(False, "yellow", "; ".join(parts) + " compared with the contract", metrics)
    return CheckOutcome(True, None, "columns match the contract", metrics)


def freshness(latest_day: dt.date | None, today: dt.date, config: AlertingConfig) -> CheckOutcome:
    """The latest loaded day is not older than allowed (yesterday counts as fresh with lag 1)."""
    if latest_day is None:
        return CheckOutcome(False, "yellow", "no data loaded yet", {"lag_days": None})
    lag = (today - latest_day).days
    metrics = {"latest_day": latest_day.isoformat(), "lag_days": lag}
    if lag > config.freshness_max_lag_days:
        return CheckOutcome(False, "yellow", f"latest complete day {latest_day} is {lag} days old "
                                             f"(allowed: {config.freshness_max_lag_days})", metrics)
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
    if len(hist) < config.volume_min_history_days:
        return CheckOutcome(True, None, f"{what}: only {len(hist)} days of history, not judged",
                            {"value": value, "history_days": len(hist)})
    median = float(hist.median())
    mad = float((hist - median).abs().median())
    scale = 1.4826 * mad if mad > 0 else max(abs(median) * 0.05, 1e-9)
    z = (value - median) / scale
    metrics = {"value": value, "trailing_median": median, "robust_z": round(z, 3), "history_days": len(hist)}
    if median > 0 and value < config.volume_drop_ratio_red * median:
        level = "red" if median >= config.volume_min_median_red else "yellow"
        return CheckOutcome(False, level, f"{what} {value:,.0f} is below {config.volume_drop_ratio_red:.0%} of the "
                                          f"trailing median {median:,.0f}", metrics)
    if abs(z) > config.volume_robust_z_yellow:
        return CheckOutcome(False, "yellow", f"{what} {value:,.0f} is {z:+.1f} robust standard deviations from the "
                                             f"trailing median {median:,.0f}", metrics)
    return CheckOutcome(True, None, f"{what} {value:,.0f} vs trailing median {median:,.0f} (z {z:+.1f})", metrics)
