"""The model decisions as plain functions (ml/promotion.py), with hand-worked cases."""

import pandas as pd

from ml.evaluation import decide
from ml.promotion import (
    demand_serving,
    gate_passes,
    panel_problems,
    retention_feature_problems,
    versus_champion_auc,
    versus_champion_mae,
)
from ml.retention_features import FEATURES


def test_champion_comparisons_name_the_champion_and_the_metric():
    assert versus_champion_auc(0.71, "v1", 0.70) == (True, "beats champion v1 (ROC AUC 0.7000 on the same cutoff)")
    assert versus_champion_auc(0.70, "v1", 0.70)[0] is False, "a tie does not replace the champion"
    assert versus_champion_mae(1.5, "v2", 1.25) == (
        False,
        "does not beat champion v2 (MAE 1.5000 vs 1.2500 on the same window)",
    )


def test_the_gate_passes_a_promotion_or_an_identical_retrain_only():
    promoted = decide("b", "a", True, True, "ok", "better")
    assert gate_passes(promoted, "a", "b")
    same = decide("a", "a", True, False, "ok", "")
    assert gate_passes(same, "a", "a"), "retraining to the champion itself keeps it without a red gate"
    worse = decide("b", "a", True, False, "ok", "worse")
    assert not gate_passes(worse, "a", "b")
    no_baseline = decide("a", "a", False, False, "worse than naive", "")
    assert not gate_passes(no_baseline, "a", "a")


def test_the_forecast_serves_the_model_only_while_the_champion_beats_naive():
    promoted = decide("new", None, True, True, "ok", "")
    assert demand_serving(promoted, "new", None, 0.8, None, 2.0, 0.98) == ("model", "new", 0.8)
    kept = decide("new", "old", True, False, "ok", "worse")
    # The old champion's MAE on the window over naive's: 2.1 / 2.0 = 1.05, not below 0.98.
    assert demand_serving(kept, "new", "old", 0.8, 2.1, 2.0, 0.98) == ("seasonal_naive", "old", 1.05)
    refused = decide("new", None, False, True, "worse than naive", "")
    assert demand_serving(refused, "new", None, 1.2, None, 2.0, 0.98) == ("seasonal_naive", None, float("inf"))


def test_panel_problems_list_every_broken_rule():
    good = {"rows": 6, "products": 2, "days": 3, "duplicate_keys": 0, "bad_units": 0}
    assert panel_problems(good) == []
    bad = {"rows": 5, "products": 2, "days": 3, "duplicate_keys": 1, "bad_units": 2}
    assert panel_problems(bad) == [
        "1 duplicate (product, day) keys",
        "2 negative or null unit counts",
        "the grid is not dense",
    ]


def test_retention_feature_problems():
    base = dict.fromkeys(FEATURES, 1.0)
    rows = [
        {"cutoff": "2026-01-01", "customer_id": f"c{i}", "role": "training", "label": i % 2, **base} for i in range(10)
    ]
    rows += [{"cutoff": "2026-02-01", "customer_id": "c1", "role": "scoring", "label": None, **base}]
    frame = pd.DataFrame(rows)
    assert retention_feature_problems(frame, ("training",)) == []
    assert retention_feature_problems(frame, ("training", "evaluation")) == ["no evaluation rows"]
    frame.loc[0, "recency_days"] = -1
    frame.loc[1, "customer_id"] = "c0"
    assert retention_feature_problems(frame, ("training",)) == [
        "duplicate (cutoff, customer_id) rows",
        "infinite or negative recency/frequency/tenure values",
    ]
