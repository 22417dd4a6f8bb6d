"""The retention model: will a customer active before a cutoff buy again within the horizon?

Training stacks several past cutoffs; evaluation uses a later cutoff whose labels no training
row has seen. The model must beat the strongest of the simple baselines a data scientist would try
first, on that same evaluation cutoff: recency alone, frequency alone, a recency/frequency bucket
rule (the repurchase rate of the bucket in the training cutoffs) and a small logistic regression
on recency, frequency and monetary value. On real shops a plain order count often ranks better
than the bucket rule, so the gate does not compare with one fixed rule.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ml.evaluation import (
    calibration_table,
    classification_metrics,
    limited_threads,
    paired_bootstrap_gain,
    top_decile_lift,
)
from ml.retention_features import CATEGORICAL, FEATURES

CODE_VERSION = "retention-v1"
RECENCY_EDGES = [0, 8, 15, 31, 61, 91, 10**6]
FREQUENCY_EDGES = [1, 2, 3, 5, 10**6]


@dataclass(frozen=True)
class RetentionParams:
    # Small, strongly regularised trees: a few thousand customers per cutoff overfit deeper ones.
    learning_rate: float = 0.03
    max_iter: int = 150
    max_leaf_nodes: int = 5
    min_samples_leaf: int = 80
    l2_regularization: float = 1.0
    random_state: int = 0


class RecencyFrequencyRule:
    """The baseline: P(buy again) = the training rate of the (recency, frequency) bucket."""

    def fit(self, frame: pd.DataFrame) -> RecencyFrequencyRule:
        y = frame["label"].astype(float)
        cells = pd.DataFrame({"cell": self._cells(frame), "y": y}).groupby("cell")["y"].agg(["sum", "count"])
        self.prior = float(y.mean())
        # Laplace-style shrinkage towards the overall rate keeps small cells sane.
        self.rates = ((cells["sum"] + 5 * self.prior) / (cells["count"] + 5)).to_dict()
        return self

    @staticmethod
    def _cells(frame: pd.DataFrame) -> pd.Series:
        r = np.searchsorted(RECENCY_EDGES, frame["recency_days"].to_numpy(), side="right")
        f = np.searchsorted(FREQUENCY_EDGES, frame["frequency"].to_numpy(), side="right")
        return pd.Series(r * 10 + f, index=frame.index)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self._cells(frame).map(self.rates).fillna(self.prior).to_numpy(dtype=float)


def _rfm(frame: pd.DataFrame) -> np.ndarray:
    columns = [frame[c].to_numpy(dtype=float) for c in ("recency_days", "frequency", "monetary")]
    return np.column_stack([np.log1p(np.maximum(np.nan_to_num(c), 0.0)) for c in columns])


class Baselines:
    """The simple baselines, fitted on the training cutoffs; each scores P(buy again) or a ranking.

    recency: fewer days since the last order ranks higher; frequency: more orders ranks higher
    (ties broken by recency); rf_bucket: the RecencyFrequencyRule; rfm_logistic: logistic
    regression on log recency, log frequency and log monetary value.
    """

    NAMES = ("recency", "frequency", "rf_bucket", "rfm_logistic")

    def fit(self, frame: pd.DataFrame) -> Baselines:
        labelled = frame[frame["label"].notna()]
        self.rule = RecencyFrequencyRule().fit(labelled)
        self.logistic = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
        self.logistic.fit(_rfm(labelled), labelled["label"].astype(int).to_numpy())
        return self

    def scores(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        recency = frame["recency_days"].to_numpy(dtype=float)
        frequency = frame["frequency"].to_numpy(dtype=float)
        return {
            "recency": -recency,
            "frequency": frequency - recency / (recency.max(initial=0.0) + 1.0) / 2,
            "rf_bucket": self.rule.predict_proba(frame),
            "rfm_logistic": self.logistic.predict_proba(_rfm(frame))[:, 1],
        }


@dataclass
class RetentionModel:
    """The fitted classifier with the feature list it was trained on."""

    classifier: HistGradientBoostingClassifier
    features: list[str]

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        with limited_threads():
            return self.classifier.predict_proba(frame[self.features].to_numpy(dtype=float))[:, 1]


def fit(train: pd.DataFrame, params: RetentionParams, features: list[str] = FEATURES) -> RetentionModel:
    labelled = train[train["label"].notna()]
    if labelled["label"].nunique() < 2:
        raise ValueError("the training cutoffs hold only one label class: nothing to learn from")
    # A feature with no value at all (its source is not deployed, e.g. no events) is left out.
    features = [f for f in features if labelled[f].notna().any()]
    categorical = [features.index(c) for c in CATEGORICAL if c in features]
    clf = HistGradientBoostingClassifier(
        learning_rate=params.learning_rate,
        max_iter=params.max_iter,
        max_leaf_nodes=params.max_leaf_nodes,
        min_samples_leaf=params.min_samples_leaf,
        l2_regularization=params.l2_regularization,
        categorical_features=categorical or None,
        early_stopping=False,
        random_state=params.random_state,
    )
    with limited_threads():
        clf.fit(labelled[features].to_numpy(dtype=float), labelled["label"].astype(int).to_numpy())
    return RetentionModel(clf, list(features))


@dataclass(frozen=True)
class Evaluation:
    """Model and the strongest baseline (highest ROC AUC) on the same evaluation cutoff."""

    model: dict
    baseline: dict
    baseline_name: str
    baseline_aucs: dict
    auc_gain: float
    auc_gain_low: float
    auc_gain_high: float
    calibration_model: list[dict]
    calibration_baseline: list[dict]

    def as_dict(self) -> dict:
        return asdict(self)


def evaluate(
    model: RetentionModel, baselines: Baselines, evaluation: pd.DataFrame, seed: int = 0
) -> tuple[Evaluation, np.ndarray, np.ndarray]:
    """The model against the strongest baseline; returns the evaluation, the model's scores and every baseline's."""
    labelled = evaluation[evaluation["label"].notna()]
    y = labelled["label"].astype(int).to_numpy()
    if len(np.unique(y)) < 2:
        raise ValueError("the evaluation cutoff holds only one label class: it cannot rank anything")
    p_model, scores = model.predict_proba(labelled), baselines.scores(labelled)
    aucs = {name: float(roc_auc_score(y, s)) for name, s in scores.items()}
    strongest = max(aucs, key=lambda name: (aucs[name], -Baselines.NAMES.index(name)))
    p_rule = scores[strongest]
    gain, lo, hi = paired_bootstrap_gain(y, p_model, p_rule, seed=seed)
    # Brier and calibration need probabilities: for a ranking-only baseline (recency, frequency)
    # they are those of the better-calibrated probabilistic baseline.
    probabilistic = {n: scores[n] for n in ("rf_bucket", "rfm_logistic")}
    calibrated = (
        strongest
        if strongest in probabilistic
        else min(probabilistic, key=lambda n: brier_score_loss(y, probabilistic[n]))
    )
    baseline_metrics = {
        **classification_metrics(y, probabilistic[calibrated]),
        "roc_auc": aucs[strongest],
        "pr_auc": float(average_precision_score(y, p_rule)),
        "top_decile_lift": top_decile_lift(y, p_rule),
    }
    result = Evaluation(
        model=classification_metrics(y, p_model),
        baseline=baseline_metrics,
        baseline_name=strongest,
        baseline_aucs=aucs,
        auc_gain=gain,
        auc_gain_low=lo,
        auc_gain_high=hi,
        calibration_model=calibration_table(y, p_model).round(6).to_dict("records"),
        calibration_baseline=calibration_table(y, probabilistic[calibrated]).round(6).to_dict("records"),
    )
    return result, p_model, scores


def beats_baseline(result: Evaluation, min_auc_gain: float) -> tuple[bool, str]:
    """Better ranking than the strongest baseline beyond noise: the AUC gain and its bootstrap lower bound."""
    ok = result.auc_gain >= min_auc_gain and result.auc_gain_low > 0
    verdict = "beats" if ok else "does not beat"
    others = ", ".join(f"{n} {a:.4f}" for n, a in result.baseline_aucs.items() if n != result.baseline_name)
    return ok, (
        f"candidate {verdict} the strongest baseline ({result.baseline_name}; others: {others}): "
        f"ROC AUC {result.model['roc_auc']:.4f} vs "
        f"{result.baseline['roc_auc']:.4f} (gain {result.auc_gain:+.4f}, 95% CI "
        f"{result.auc_gain_low:+.4f}..{result.auc_gain_high:+.4f}, required >= {min_auc_gain})"
    )


def risk_deciles(probability: np.ndarray) -> np.ndarray:
    """10 = the tenth of customers most likely to churn (lowest probability of buying again)."""
    churn = 1 - np.asarray(probability, dtype=float)
    ranks = pd.Series(churn).rank(method="first").to_numpy()
    return np.ceil(ranks / len(ranks) * 10).astype(int) if len(ranks) else np.array([], dtype=int)
