"""The retention gate compares a candidate with the strongest simple baseline, not one fixed rule."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml import retention as rt


def _customers(n: int, seed: int) -> pd.DataFrame:
    """Repurchase driven by the order count far beyond the bucket rule's top bucket (5+ orders)."""
    rng = np.random.default_rng(seed)
    frequency = np.minimum(rng.geometric(0.08, n), 60)
    recency = rng.integers(0, 120, n)
    p = 1 / (1 + np.exp(-(-2.5 + 0.12 * frequency - 0.004 * recency)))
    return pd.DataFrame(
        {
            "recency_days": recency,
            "frequency": frequency,
            "monetary": frequency * 40.0 * rng.lognormal(0, 0.3, n),
            "label": (rng.random(n) < p).astype(float),
        }
    )


class CappedCount:
    """A candidate that ranks by the order count capped at 8: better than the bucket rule, worse
    than the plain count."""

    features = ["recency_days", "frequency"]

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        capped = np.minimum(frame["frequency"].to_numpy(dtype=float), 8)
        return (capped - frame["recency_days"].to_numpy(dtype=float) / 1000) / 10


def test_a_candidate_that_beats_the_bucket_rule_but_not_the_order_count_is_refused():
    train, evaluation = _customers(6000, 1), _customers(6000, 2)
    baselines = rt.Baselines().fit(train)
    result, p_model, scores = rt.evaluate(CappedCount(), baselines, evaluation, seed=0)
    aucs = result.baseline_aucs
    assert set(aucs) == set(rt.Baselines.NAMES)
    assert result.model["roc_auc"] > aucs["rf_bucket"] + 0.01, (result.model, aucs)
    assert result.baseline_name in {"frequency", "rfm_logistic"}, aucs
    assert result.baseline["roc_auc"] == max(aucs.values()) > result.model["roc_auc"]
    ok, reason = rt.beats_baseline(result, 0.01)
    assert not ok
    assert f"strongest baseline ({result.baseline_name}" in reason and "rf_bucket" in reason
    assert 0 <= result.baseline["brier"] <= 1, "the baseline's Brier score is that of a probability"


def test_recency_is_the_strongest_baseline_when_only_recency_matters():
    rng = np.random.default_rng(5)
    n = 5000
    frames = []
    for _ in range(2):
        recency = rng.integers(0, 200, n)
        frames.append(
            pd.DataFrame(
                {
                    "recency_days": recency,
                    "frequency": rng.integers(1, 4, n),
                    "monetary": rng.lognormal(4, 1, n),
                    "label": (rng.random(n) < np.exp(-recency / 40)).astype(float),
                }
            )
        )
    baselines = rt.Baselines().fit(frames[0])
    scores = baselines.scores(frames[1])
    y = frames[1]["label"].to_numpy()
    from sklearn.metrics import roc_auc_score

    aucs = {name: roc_auc_score(y, s) for name, s in scores.items()}
    assert aucs["recency"] > aucs["frequency"] + 0.2, aucs
