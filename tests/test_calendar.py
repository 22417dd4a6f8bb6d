"""A business calendar: closed days need no export and are not judged by the volume check; a
weekly rhythm can be judged against the same weekday."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

import pandas as pd
import pytest

from core.collection import MissingSource, collect_partition
from core.collection.contracts import ContractError, load_contracts
from core.quality import AlertingConfig, worst_day_volume
from core.quality.config import Volume
from tests.conftest import CONTRACTS

SATURDAY = dt.date(2026, 1, 10)


def _orders(tmp_path, closed: str):
    mappings = tmp_path / "mappings"
    mappings.mkdir(exist_ok=True)
    (mappings / "orders.yaml").write_text(f"mapping:\n  closed_days: {closed}\n")
    return load_contracts(CONTRACTS, mappings)["orders"]


def test_a_closed_day_needs_no_export_and_an_open_one_does(tmp_path):
    orders = _orders(tmp_path, "{weekdays: [Saturday, sunday], dates: [2026-01-01]}")
    assert orders.mapping.is_closed(SATURDAY) and orders.mapping.is_closed(dt.date(2026, 1, 1))
    result = collect_partition(orders, SATURDAY, tmp_path / "landing", tmp_path / "lake")
    assert result.rows_read == 0
    with pytest.raises(MissingSource, match="2026-01-12"):
        collect_partition(orders, dt.date(2026, 1, 12), tmp_path / "landing", tmp_path / "lake")


@pytest.mark.parametrize(
    "closed,message",
    [
        ("{weekdays: [caturday]}", "unknown weekday(s) ['caturday']"),
        ("{dates: [2026-13-01]}", "not valid YAML"),
        ("{dates: [10 Jan]}", "is not a date"),
        ("{hours: [1]}", "'weekdays' and/or 'dates'"),
    ],
)
def test_a_wrong_calendar_names_the_field(tmp_path, closed, message):
    with pytest.raises(ContractError, match=re.escape(message)):
        _orders(tmp_path, closed)


def _week_shape(weeks: int) -> pd.Series:
    """Orders per day: 100 on weekdays, 20 on Saturdays, none on Sundays (closed)."""
    start = dt.date(2025, 11, 3)  # a Monday
    days = [start + dt.timedelta(days=i) for i in range(7 * weeks)]
    return pd.Series({d: {5: 20.0, 6: 0.0}.get(d.weekday(), 100.0) for d in days})


def test_closed_days_are_not_judged_and_a_quiet_saturday_is_judged_against_saturdays():
    series = _week_shape(9)
    sunday, saturday = series.index[-1], series.index[-2]
    closed = lambda d: d.weekday() == 6  # noqa: E731
    config = AlertingConfig()
    assert worst_day_volume(series, [sunday], config, "orders", closed).passed, "a closed Sunday is not a drop"
    assert not worst_day_volume(series, [sunday], config, "orders").passed, "without the calendar it is red"
    # Against all days a Saturday (20 vs a median of 100) is a red drop; against Saturdays it is normal.
    assert worst_day_volume(series, [saturday], config, "orders", closed).level == "red"
    weekly = dataclasses.replace(config, volume=Volume(trailing_days=56, compare="same_weekday"))
    assert worst_day_volume(series, [saturday], weekly, "orders", closed).passed
    dropped = series.copy()
    dropped[saturday] = 5.0
    assert not worst_day_volume(dropped, [saturday], weekly, "orders", closed).passed, "a real drop still shows"


def test_kpi_targets_files_are_checked_and_default_only_for_the_demo(tmp_path):
    from core.settings import Settings
    from core.storage.targets import KpiTargetsError, load_kpi_targets

    assert Settings(data_dir=tmp_path).kpi_targets.name == "kpi_targets.csv", "the simulated demo has its targets"
    assert Settings(data_dir=tmp_path, landing_dir=tmp_path / "mine").kpi_targets is None, "your own data: none"
    rows = load_kpi_targets(CONTRACTS.parent / "kpi_targets.csv")
    assert {r["kpi"] for r in rows} >= {"net_revenue", "cac"} and all(
        r["direction"] in {"higher", "lower"} for r in rows
    )
    bad = tmp_path / "targets.csv"
    bad.write_text("kpi,target,direction\nnet_revenue,lots,higher\n")
    with pytest.raises(KpiTargetsError, match="line 2: target 'lots' is not a number"):
        load_kpi_targets(bad)
    bad.write_text("kpi,target,direction\nnet_revenue,1,up\n")
    with pytest.raises(KpiTargetsError, match="line 2: direction must be higher or lower"):
        load_kpi_targets(bad)
