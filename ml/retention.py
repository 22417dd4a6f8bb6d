"""The retention model: will a customer active before a cutoff buy again within the horizon?

Training stacks several past cutoffs; evaluation uses a later cutoff whose labels no training
row has seen. The baseline is a recency/frequency rule: the repurchase rate observed in the
training cutoffs for the customer's recency and frequency bucket.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

from ml.evaluation import calibration_table, classification_metrics, limited_threads, paired_bootstrap_gain
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
    """Model and baseline on the same evaluation cutoff."""

    model: dict
    baseline: dict
    auc_gain: float
    auc_gain_low: float
    auc_gain_high: float
    calibration_model: list[dict]
    calibration_baseline: list[dict]

    def as_dict(self) -> dict:
        return asdict(self)


def evaluate(
    model: RetentionModel, rule: RecencyFrequencyRule, evaluation: pd.DataFrame, seed: int = 0
) -> tuple[Evaluation, np.ndarray, np.ndarray]:
    labelled = evaluation[evaluation["label"].notna()]
    y = labelled["label"].astype(int).to_numpy()
    if len(np.unique(y)) < 2:
        raise ValueError("the evaluation cutoff holds only one label class: it cannot rank anything")
    p_model, p_rule = model.predict_proba(labelled), rule.predict_proba(labelled)
    gain, lo, hi = paired_bootstrap_gain(y, p_model, p_rule, seed=seed)
    result = Evaluation(
        model=classification_metrics(y, p_model),
        baseline=classification_metrics(y, p_rule),
        auc_gain=gain,
        auc_gain_low=lo,
        auc_gain_high=hi,
        calibration_model=calibration_table(y, p_model).round(6).to_dict("records"),
        calibration_baseline=calibration_table(y, p_rule).round(6).to_dict("records"),
    )
    return result, p_model, p_rule


def beats_baseline(result: Evaluation, min_auc_gain: float) -> tuple[bool, str]:
    """Better ranking than the rule beyond noise: the AUC gain and its bootstrap lower bound."""
    ok = result.auc_gain >= min_auc_gain and result.auc_gain_low > 0
    verdict = "beats" if ok else "does not beat"
    return ok, (
        f"candidate {verdict} the recency/frequency baseline: ROC AUC {result.model['roc_auc']:.4f} vs "
        f"{result.baseline['roc_auc']:.4f} (gain {result.auc_gain:+.4f}, 95% CI "
        f"{result.auc_gain_low:+.4f}..{result.auc_gain_high:+.4f}, required >= {min_auc_gain})"
    )


def risk_deciles(probability: np.ndarray) -> np.ndarray:
    """10 = the tenth of customers most likely to churn (lowest probability of buying again)."""
    churn = 1 - np.asarray(probability, dtype=float)
    ranks = pd.Series(churn).rank(method="first").to_numpy()
    return np.ceil(ranks / len(ranks) * 10).astype(int) if len(ranks) else np.array([], dtype=int)
