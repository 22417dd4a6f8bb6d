"""The model decisions the application layer makes, as plain functions: feature-table validity,
the comparison with the champion, whether the gate passes, and what the demand forecast serves."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.evaluation import Decision
from ml.retention_features import FEATURES

NON_NEGATIVE = ["recency_days", "frequency", "tenure_days"]


def retention_feature_problems(frame: pd.DataFrame, labelled_roles: tuple[str, ...]) -> list[str]:
    """What is wrong with a retention feature table; `labelled_roles` are the roles it must hold
    besides scoring (none when the history is too short to train)."""
    problems = []
    counts = frame.groupby("role").size().to_dict()
    for role in (*labelled_roles, "scoring"):
        if counts.get(role, 0) == 0:
            problems.append(f"no {role} rows")
    if frame.duplicated(["cutoff", "customer_id"]).any():
        problems.append("duplicate (cutoff, customer_id) rows")
    labelled = frame[frame["role"].isin(["training", "evaluation"])]
    for role, part in labelled.groupby("role"):
        rate = part["label"].astype(float).mean()
        if part["label"].isna().any() or not 0.01 <= rate <= 0.99:
            problems.append(f"{role} labels missing or one-sided (positive rate {rate:.3f})")
    values = frame[FEATURES].to_numpy(dtype=float)
    if np.isinf(values).any() or (frame[NON_NEGATIVE] < 0).any().any():
        problems.append("infinite or negative recency/frequency/tenure values")
    return problems


def panel_problems(facts: dict) -> list[str]:
    """What is wrong with the demand panel, from `ml.panel.panel_checks`."""
    problems = []
    if not facts["rows"]:
        problems.append("no rows")
    if facts["duplicate_keys"]:
        problems.append(f"{facts['duplicate_keys']} duplicate (product, day) keys")
    if facts["bad_units"]:
        problems.append(f"{facts['bad_units']} negative or null unit counts")
    if facts["rows"] and facts["rows"] != facts["products"] * facts["days"]:
        problems.append("the grid is not dense")
    return problems


def versus_champion_auc(candidate_auc: float, champion_version: str, champion_auc: float) -> tuple[bool, str]:
    """Retention: the candidate beats the champion when its ROC AUC on the same cutoff is higher."""
    beats = candidate_auc > champion_auc
    return beats, (
        f"{'beats' if beats else 'does not beat'} champion {champion_version} "
        f"(ROC AUC {champion_auc:.4f} on the same cutoff)"
    )


def versus_champion_mae(candidate_mae: float, champion_version: str, champion_mae: float) -> tuple[bool, str]:
    """Demand: the candidate beats the champion when its MAE on the same window is lower."""
    beats = candidate_mae < champion_mae
    return beats, (
        f"{'beats' if beats else 'does not beat'} champion {champion_version} "
        f"(MAE {candidate_mae:.4f} vs {champion_mae:.4f} on the same window)"
    )


def gate_passes(decision: Decision, champion_version: str | None, candidate_version: str) -> bool:
    """The promotion gate passes on a promotion, or when a retrained candidate identical to the
    champion still beats the baseline (it stays the champion without a promotion)."""
    return decision.promote or (decision.beats_baseline and champion_version == candidate_version)


def demand_serving(
    decision: Decision,
    candidate_version: str,
    champion_version: str | None,
    candidate_mase: float,
    champion_mae: float | None,
    naive_mae: float,
    max_mase: float,
) -> tuple[str, str | None, float]:
    """What the forecast serves after this decision: the model only while the champion beats naive.

    Returns ("model" | "seasonal_naive", the champion after the decision, that champion's MASE).
    """
    champion_after = candidate_version if decision.promote else champion_version
    if champion_after and champion_after != candidate_version:
        champion_mase = champion_mae / naive_mae if naive_mae else float("inf")
    else:
        champion_mase = candidate_mase if champion_after else float("inf")
    serve = "model" if champion_after and champion_mase < max_mase else "seasonal_naive"
    return serve, champion_after, champion_mase
