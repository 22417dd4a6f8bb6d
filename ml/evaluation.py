"""Metrics, calibration, the promotion rule and charts shared by the models."""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score, roc_curve


def limited_threads(n: int = 1):
    """Cap OpenMP threads while fitting: on a busy 2-core machine, spinning threads slow a fit 10-30x."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=n, user_api="openmp")


def top_decile_lift(y: np.ndarray, score: np.ndarray) -> float:
    """The positive rate in the tenth with the highest scores, divided by the base rate."""
    y, score = np.asarray(y, dtype=int), np.asarray(score, dtype=float)
    top = np.argsort(-score, kind="stable")[: max(1, len(score) // 10)]
    base = float(y.mean())
    return float(y[top].mean() / base) if base > 0 else float("nan")


def classification_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """ROC AUC, PR AUC, Brier score and the lift of the top decile (rate there / base rate)."""
    y, p = np.asarray(y, dtype=int), np.asarray(p, dtype=float)
    base = float(y.mean())
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
        "top_decile_lift": top_decile_lift(y, p),
        "base_rate": base,
        "n": int(len(y)),
    }


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Mean predicted probability vs observed rate in deciles of the prediction."""
    frame = pd.DataFrame({"y": np.asarray(y, dtype=float), "p": np.asarray(p, dtype=float)})
    frame["bin"] = pd.qcut(frame["p"].rank(method="first"), q=min(bins, len(frame)), labels=False)
    table = frame.groupby("bin").agg(n=("y", "size"), mean_predicted=("p", "mean"), observed_rate=("y", "mean"))
    return table.reset_index().assign(bin=lambda t: t["bin"] + 1)


def paired_bootstrap_gain(
    y: np.ndarray, p_candidate: np.ndarray, p_reference: np.ndarray, n_boot: int = 200, seed: int = 0
) -> tuple[float, float, float]:
    """ROC AUC(candidate) - ROC AUC(reference) and its 95% paired-bootstrap interval."""
    y = np.asarray(y, dtype=int)
    rng = np.random.default_rng(seed)
    gains = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        if y[idx].min() == y[idx].max():
            continue
        gains.append(roc_auc_score(y[idx], p_candidate[idx]) - roc_auc_score(y[idx], p_reference[idx]))
    point = roc_auc_score(y, p_candidate) - roc_auc_score(y, p_reference)
    lo, hi = np.percentile(gains, [2.5, 97.5]) if gains else (np.nan, np.nan)
    return float(point), float(lo), float(hi)


@dataclass(frozen=True)
class Decision:
    """Whether a candidate replaces the champion, and why."""

    promote: bool
    beats_baseline: bool
    beats_champion: bool
    reason: str

    def as_dict(self) -> dict:
        return asdict(self)


def decide(
    candidate_version: str,
    champion_version: str | None,
    beats_baseline: bool,
    beats_champion: bool,
    baseline_reason: str,
    champion_reason: str,
) -> Decision:
    """The promotion rule: better than the baseline and than the champion on the same window."""
    if not beats_baseline:
        return Decision(False, False, beats_champion, baseline_reason)
    if champion_version is None:
        return Decision(True, True, True, f"{baseline_reason}; no champion yet")
    if champion_version == candidate_version:
        return Decision(False, True, False, f"{baseline_reason}; the candidate is the champion already")
    if not beats_champion:
        return Decision(False, True, False, f"{baseline_reason}; {champion_reason}")
    return Decision(True, True, True, f"{baseline_reason}; {champion_reason}")


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def markdown_image(url: str, title: str) -> str:
    """A markdown image; the Dagster UI shows only http(s) sources (a data: URI is dropped)."""
    return f"![{title}]({url})"


def roc_and_calibration_chart(
    y: np.ndarray, curves: dict[str, np.ndarray], rankings: dict[str, np.ndarray] | None = None
) -> bytes:
    """ROC curves and a calibration plot of each named prediction, as PNG bytes; `rankings`
    (scores that are not probabilities) appear in the ROC plot only."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (roc_ax, cal_ax) = plt.subplots(1, 2, figsize=(9, 4))
    for name, p in curves.items():
        fpr, tpr, _ = roc_curve(y, p)
        roc_ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(y, p):.3f})")
        cal = calibration_table(y, p)
        cal_ax.plot(cal["mean_predicted"], cal["observed_rate"], marker="o", label=name)
    for name, score in (rankings or {}).items():
        fpr, tpr, _ = roc_curve(y, score)
        roc_ax.plot(fpr, tpr, linestyle="--", label=f"{name} (AUC {roc_auc_score(y, score):.3f})")
    roc_ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
    roc_ax.set(title="ROC", xlabel="false positive rate", ylabel="true positive rate")
    cal_ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
    cal_ax.set(title="Calibration (deciles)", xlabel="mean predicted", ylabel="observed rate")
    roc_ax.legend(loc="lower right")
    cal_ax.legend(loc="upper left")
    return _png(fig)


def forecast_chart(
    actual: pd.Series,
    forecasts: dict[str, pd.Series],
    low: pd.Series | None = None,
    high: pd.Series | None = None,
    title: str = "forecast vs actual",
) -> bytes:
    """Total daily units: actual vs each forecast (and the model's interval), as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.5))
    ax.plot(actual.index, actual.to_numpy(), color="black", label="actual")
    for name, series in forecasts.items():
        ax.plot(series.index, series.to_numpy(), label=name)
    if low is not None and high is not None:
        ax.fill_between(low.index, low.to_numpy(), high.to_numpy(), alpha=0.2, label="p10-p90")
    ax.set(title=title, ylabel="units")
    ax.legend(loc="upper left")
    fig.autofmt_xdate()
    return _png(fig)
