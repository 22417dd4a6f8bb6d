"""The simulated business: deterministic, and with the defects and seasonality it promises."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from simulator import DefectRates, SimulationConfig, simulate
from tests.conftest import MONTH_DEFECTS


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _run(tmp: Path, seed: int) -> dict[str, str]:
    simulate(
        SimulationConfig(start=dt.date(2026, 3, 1), end=dt.date(2026, 3, 6), seed=seed, scale=0.2),
        tmp / "landing",
        tmp / "truth",
    )
    return _digest(tmp)


def test_same_seed_gives_byte_identical_output(tmp_path):
    first = _run(tmp_path / "a", 5)
    second = _run(tmp_path / "b", 5)
    assert len(first) == 9 * 6 + 3  # nine sources x six days + three ground-truth files
    assert first == second


def test_different_seeds_differ(tmp_path):
    first = _run(tmp_path / "a", 5)
    other = _run(tmp_path / "b", 6)
    differing = [k for k in first if first[k] != other.get(k)]
    assert len(differing) > 40


def _lines(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return text.splitlines()


def test_duplicate_lines_appear_at_the_configured_rate(sim_month):
    total = dups = 0
    for path in sorted((sim_month / "landing" / "events").glob("*.jsonl")):
        lines = _lines(path)
        total += len(lines)
        dups += len(lines) - len(set(lines))
    assert total > 5_000
    assert dups / total == pytest.approx(MONTH_DEFECTS.duplicate, rel=0.25)


def test_timestamp_variants_and_late_events_are_present(sim_month):
    alt = offset = rows = 0
    for path in sorted((sim_month / "landing" / "orders").glob("*.csv")):
        for line in _lines(path)[1:]:
            rows += 1
            alt += bool(re.search(r",\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2},", line))
            offset += "+08:00" in line
    assert alt / rows == pytest.approx(MONTH_DEFECTS.alt_timestamp_format, rel=0.35)
    assert offset / rows == pytest.approx(MONTH_DEFECTS.other_timezone, rel=0.4)

    late = events = 0
    for path in sorted((sim_month / "landing" / "events").glob("*.jsonl"))[:-1]:
        day = path.stem
        for line in _lines(path):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            events += 1
            at = record.get("event_at") or ""
            if re.match(r"\d{4}-\d{2}-\d{2} ", at) and at[:10] < day:
                late += 1
    assert late / events == pytest.approx(MONTH_DEFECTS.late_arrival, rel=0.35)


def test_orders_have_guests_returns_and_pii_in_users(sim_month):
    frames = [
        pd.read_csv(p, dtype=str, on_bad_lines="skip") for p in sorted((sim_month / "landing" / "orders").glob("*.csv"))
    ]
    orders = pd.concat(frames)
    qty = pd.to_numeric(orders["quantity"], errors="coerce")
    assert (qty < 0).sum() > 8, "returns arrive as negative quantities"
    assert orders.loc[qty < 0, "status"].eq("returned").all()
    assert orders["customer_id"].isna().mean() > 0.02, "guest checkouts have no customer id"
    users = pd.read_csv(sorted((sim_month / "landing" / "users").glob("*.csv"))[3], dtype=str)
    assert users["email"].str.contains("@").mean() > 0.9
    assert users["phone"].str.startswith("+86").mean() > 0.9


def test_weekly_and_yearly_seasonality(tmp_path):
    simulate(
        SimulationConfig(
            start=dt.date(2025, 1, 1),
            end=dt.date(2025, 12, 31),
            seed=3,
            scale=0.1,
            defects=DefectRates.none(),
            sources=("marketing_spend", "events"),
        ),
        tmp_path / "landing",
        tmp_path / "truth",
    )
    spend = pd.concat(pd.read_csv(p) for p in sorted((tmp_path / "landing" / "marketing_spend").glob("*.csv")))
    daily = spend.groupby("spend_date")["spend"].sum()
    daily.index = pd.to_datetime(daily.index)
    june = daily[daily.index.month == 6].mean()
    december = daily[daily.index.month == 12].mean()
    assert june / december > 1.25, "yearly cycle: summer spend above winter spend"
    weekend = daily[daily.index.dayofweek >= 5].mean()
    weekday = daily[daily.index.dayofweek < 5].mean()
    assert weekend / weekday > 1.12, "weekly cycle: weekends above weekdays"

    counts = {p.stem: sum(1 for _ in p.open()) for p in (tmp_path / "landing" / "events").glob("*.jsonl")}
    events = pd.Series(counts)
    events.index = pd.to_datetime(events.index)
    events = events[events.index >= "2025-03-01"]
    assert events[events.index.dayofweek >= 5].mean() > 1.1 * events[events.index.dayofweek < 5].mean()


def test_ground_truth_records_experiments_churn_and_defects(sim_month):
    truth = sim_month / "ground_truth"
    manifest = json.loads((truth / "manifest.json").read_text())
    effects = {e["experiment_id"]: e["true_relative_effect_on_checkout_conversion"] for e in manifest["experiments"]}
    assert effects["exp_checkout_redesign"] > 0 and effects["exp_banner_color"] == 0
    customers = pd.read_csv(truth / "customers.csv")
    assert customers["churned_on"].notna().sum() > 10
    defects = pd.read_csv(truth / "defects.csv")
    assert set(DefectRates.QUARANTINED) <= set(defects["defect"])
