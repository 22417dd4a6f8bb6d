"""Great Expectations suites (`expectations/suites/*.json`): loading, and validating a frame.

Uses the GE 1.x API directly with an ephemeral context per validation (no dagster-ge, no
SQLAlchemy: the frames are deterministic samples read from DuckDB). Pure: no Dagster import.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.quality.config import LEVELS, QualityConfigError


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
        domain = (
            exp["type"],
            exp["kwargs"].get("column"),
            exp["kwargs"].get("column_A"),
            exp["kwargs"].get("column_B"),
        )
        if domain in seen:
            raise QualityConfigError(
                f"{path}: expectations[{i}] repeats the type and column of expectations[{seen[domain]}] "
                f"({exp['type']} on {domain[1] or domain[2:]}); Great Expectations keeps only one of them: "
                f"use another expectation type for the second threshold"
            )
        seen[domain] = i
    return Suite(
        name=raw.get("name", path.stem),
        asset=meta["asset"],
        level=level,
        sample_rows=int(meta.get("sample_rows", 100_000)),
        expectations=tuple(expectations),
        path=path,
    )


def load_suites(folder: Path) -> dict[str, Suite]:
    """Every suite in the folder, by the asset it guards."""
    suites = [load_suite(p) for p in sorted(folder.glob("*.json"))]
    by_asset: dict[str, Suite] = {}
    for suite in suites:
        if suite.asset in by_asset:
            raise QualityConfigError(
                f"{suite.path}: a second suite for {suite.asset} (first: {by_asset[suite.asset].path}); merge them"
            )
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


def validate(
    suite: Suite,
    df: pd.DataFrame,
    params: dict[str, Any] | None = None,
    lookup: Callable[[str], list] | None = None,
    seed: int = 0,
) -> SuiteOutcome:
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
            skipped.append(
                ExpectationOutcome(
                    exp["type"],
                    exp["kwargs"].get("column"),
                    meta.get("level", suite.level),
                    True,
                    skipped=f"no value for {exc.args[0]}",
                )
            )
            continue
        if isinstance(kwargs.get("value_set"), list) and not kwargs["value_set"]:
            skipped.append(
                ExpectationOutcome(
                    exp["type"],
                    kwargs.get("column"),
                    meta.get("level", suite.level),
                    True,
                    skipped="reference set is empty",
                )
            )
            continue
        tagged = {**meta, "platform_index": len(levels)}
        gx_suite.add_expectation_configuration(ExpectationConfiguration(type=exp["type"], kwargs=kwargs, meta=tagged))
        levels.append(meta.get("level", suite.level))
    outcomes = list(skipped)
    if levels:
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        batch = (
            context.data_sources.add_pandas("frames")
            .add_dataframe_asset(suite.name)
            .add_batch_definition_whole_dataframe("all")
            .get_batch(batch_parameters={"dataframe": sample})
        )
        result = batch.validate(gx_suite, result_format="SUMMARY")
        by_index = {r.expectation_config.meta["platform_index"]: r for r in result.results}
        for index, level in enumerate(levels):
            r = by_index.get(index)
            if r is None:
                config = gx_suite.expectations[index].configuration
                outcomes.append(
                    ExpectationOutcome(
                        config.type,
                        config.kwargs.get("column"),
                        level,
                        False,
                        skipped="Great Expectations returned no result for it",
                    )
                )
                continue
            config = r.expectation_config
            res = r.result or {}
            outcomes.append(
                ExpectationOutcome(
                    expectation=config.type,
                    column=config.kwargs.get("column"),
                    level=level,
                    success=bool(r.success),
                    unexpected_count=res.get("unexpected_count"),
                    unexpected_percent=res.get("unexpected_percent"),
                    observed_value=_plain(res.get("observed_value")),
                    failing_values=[_plain(v) for v in (res.get("partial_unexpected_list") or [])[:5]],
                )
            )
    return SuiteOutcome(suite=suite.name, rows_validated=len(sample), rows_total=total, outcomes=outcomes)


def _plain(value: Any) -> Any:
    if isinstance(value, (np.generic,)):
        return value.item()
    if isinstance(value, (pd.Timestamp, dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value if isinstance(value, (int, float, str, bool, type(None))) else str(value)


def suite_params(days: list[dt.date], lateness_days: int, columns: Sequence = ()) -> dict[str, Any]:
    """The run parameters a suite's placeholders resolve to: `${earliest_allowed}` and `${window_end}`
    (the run's window), and `${min_<column>}` / `${max_<column>}` (the column's range in the contract
    as the mapping may have widened it, so a range is stated once)."""
    params: dict[str, Any] = {}
    for col in columns:
        if col.min is not None:
            params[f"min_{col.name}"] = col.min
        if col.max is not None:
            params[f"max_{col.name}"] = col.max
    if days:
        params["earliest_allowed"] = pd.Timestamp(days[0] - dt.timedelta(days=lateness_days))
        params["window_end"] = pd.Timestamp(days[-1] + dt.timedelta(days=1))
    return params


def suite_references(suite: Suite | None) -> list[str]:
    """Sources a suite looks values up in (`${known:<source>.<column>}`), in order of appearance."""
    if suite is None:
        return []
    refs: list[str] = []
    for exp in suite.expectations:
        for value in exp["kwargs"].values():
            if isinstance(value, str) and value.startswith("${known:"):
                source = value[len("${known:") :].split(".")[0]
                if source not in refs:
                    refs.append(source)
    return refs


def used_levels(suite: Suite) -> list[str]:
    """The levels the suite's expectations use, red first."""
    used = {(e.get("meta") or {}).get("level", suite.level) for e in suite.expectations}
    return [level for level in LEVELS if level in used]
