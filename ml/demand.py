"""The demand forecast: daily units per product for the next `horizon` days.

One global model over all products (direct multi-horizon: the horizon is a feature), trained on
forecast origins in the past. Every feature of a sample is known at its origin: lags and rolling
statistics of units up to the origin, the price and promotion status at the origin, the product's
category, and the target day's calendar (weekday, season, shopping festivals). Three quantile
models give p10, p50 and p90, and a Poisson model the expected units (the mean: it adds up over
products and days, which medians of skewed daily counts do not); the interval is widened by a conformal offset measured on older
backtest origins, so its coverage is calibrated on data the models did not see.

The benchmark is the seasonal-naive forecast: each target day gets the units of the same weekday
in the last week before the origin. MASE here is MAE(model) / MAE(seasonal naive) over the same
backtest targets: below 1 means the model beats seasonal naive.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor

from ml.evaluation import limited_threads

CODE_VERSION = "demand-v1"
QUANTILES = (0.1, 0.5, 0.9)
FESTIVALS = {(6, 18), (11, 11), (12, 12)}
HISTORY_DAYS = 28  # the longest look-back of any feature
FEATURES = [
    "horizon",
    "dow",
    "month",
    "doy_sin",
    "doy_cos",
    "festival",
    "naive",
    "last",
    "mean_7",
    "mean_28",
    "std_28",
    "zero_share_28",
    "same_dow_mean_4",
    "price_ratio",
    "on_promotion",
    "promo_pct",
    "category_code",
]
# Volume features are divided by the product's level (its 28-day mean), and the models learn the
# ratio of demand to that level: trees cannot extrapolate, so a product (or a business) growing
# beyond anything seen in training would otherwise be capped at the largest level in training.
SCALED = ["naive", "last", "mean_7", "mean_28", "std_28", "same_dow_mean_4"]
MIN_LEVEL = 0.25


def level_of(frame: pd.DataFrame) -> np.ndarray:
    return np.maximum(frame["mean_28"].to_numpy(dtype=float), MIN_LEVEL)


def design(frame: pd.DataFrame, features: list[str]) -> np.ndarray:
    """The model matrix: volume features relative to the level, plus the level itself (log)."""
    level = level_of(frame)
    columns = [
        frame[f].to_numpy(dtype=float) / level if f in SCALED else frame[f].to_numpy(dtype=float) for f in features
    ]
    return np.column_stack([*columns, np.log(level)])


@dataclass(frozen=True)
class DemandParams:
    horizon_days: int = 28
    backtest_origins: int = 3
    backtest_step_days: int = 7
    origin_step_days: int = 7
    learning_rate: float = 0.05
    max_iter: int = 200
    max_leaf_nodes: int = 31
    min_samples_leaf: int = 20
    random_state: int = 0
    # A training set larger than this is sampled, the same share of every origin (a catalogue of
    # thousands of products has millions of samples, and the fit's cost grows with them).
    max_training_rows: int = 150_000


@dataclass
class Panel:
    """Units per product and day (dense, zero where nothing sold), with price and promotion."""

    products: np.ndarray
    days: pd.DatetimeIndex
    units: np.ndarray  # products x days
    price_ratio: np.ndarray  # selling price / 28-day mean list price (nan without a catalogue)
    on_promotion: np.ndarray
    promo_pct: np.ndarray
    category_code: np.ndarray  # per product

    @property
    def last_day(self) -> dt.date:
        return self.days[-1].date()


class InsufficientHistory(ValueError):
    pass


def naive_forecast(panel: Panel, origin: int, horizon: int) -> np.ndarray:
    """Seasonal naive: the same weekday in the last week up to the origin (products x horizon)."""
    h = np.arange(1, horizon + 1)
    source = origin + h - 7 * np.ceil(h / 7).astype(int)
    return panel.units[:, source]


def features_at(panel: Panel, origin: int, horizon: int) -> pd.DataFrame:
    """Features of every (product, target day) for a forecast made at the end of day `origin`."""
    if origin < HISTORY_DAYS - 1:
        raise InsufficientHistory(f"an origin needs {HISTORY_DAYS} days of history")
    y = panel.units
    n_products = len(panel.products)
    window_7, window_28 = y[:, origin - 6 : origin + 1], y[:, origin - 27 : origin + 1]
    naive = naive_forecast(panel, origin, horizon)
    h = np.arange(1, horizon + 1)
    same_dow = np.stack([y[:, origin + h - 7 * (np.ceil(h / 7).astype(int) + k)] for k in range(4)], axis=0).mean(0)
    targets = panel.days[origin] + pd.to_timedelta(h, unit="D")
    doy = targets.dayofyear.to_numpy()
    per_product = {
        "last": y[:, origin],
        "mean_7": window_7.mean(1),
        "mean_28": window_28.mean(1),
        "std_28": window_28.std(1),
        "zero_share_28": (window_28 == 0).mean(1),
        "price_ratio": panel.price_ratio[:, origin],
        "on_promotion": panel.on_promotion[:, origin],
        "promo_pct": panel.promo_pct[:, origin],
        "category_code": panel.category_code,
    }
    frame = pd.DataFrame({k: np.repeat(v, horizon) for k, v in per_product.items()})
    frame["horizon"] = np.tile(h, n_products)
    frame["dow"] = np.tile(targets.dayofweek.to_numpy(), n_products)
    frame["month"] = np.tile(targets.month.to_numpy(), n_products)
    frame["doy_sin"] = np.tile(np.sin(2 * np.pi * doy / 365.25), n_products)
    frame["doy_cos"] = np.tile(np.cos(2 * np.pi * doy / 365.25), n_products)
    frame["festival"] = np.tile([float((t.month, t.day) in FESTIVALS) for t in targets], n_products)
    frame["naive"] = naive.reshape(-1)
    frame["same_dow_mean_4"] = same_dow.reshape(-1)
    frame["product_id"] = np.repeat(panel.products, horizon)
    frame["target_date"] = np.tile(targets.date, n_products)
    frame["origin"] = origin
    return frame


def actuals_at(panel: Panel, origin: int, horizon: int) -> np.ndarray:
    return panel.units[:, origin + 1 : origin + horizon + 1].reshape(-1)


@dataclass
class DemandModel:
    """Three quantile models plus the calibrated interval offset."""

    models: dict[float, HistGradientBoostingRegressor]
    mean_model: HistGradientBoostingRegressor
    offset: float
    features: list[str]
    horizon: int
    trained_through: str  # last day any training target came from

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        x, level = design(frame, self.features), level_of(frame)
        with limited_threads():
            raw = {q: np.maximum(m.predict(x), 0.0) * level for q, m in self.models.items()}
            expected = self.mean_model.predict(x) * level
        p50 = raw[0.5]
        p10 = np.minimum(np.maximum(raw[0.1] - self.offset, 0.0), p50)
        p90 = np.maximum(raw[0.9] + self.offset, p50)
        return pd.DataFrame({"p10": p10, "p50": p50, "p90": p90, "expected": expected}, index=frame.index)


def _training_origins(last_origin_target: int, params: DemandParams) -> range:
    """Forecast origins whose whole horizon ends on or before day index `last_origin_target`."""
    return range(last_origin_target - params.horizon_days, HISTORY_DAYS - 2, -params.origin_step_days)


def training_set(
    panel: Panel, last_origin_target: int, params: DemandParams, cache: dict[int, pd.DataFrame] | None = None
) -> pd.DataFrame:
    """Samples from origins whose whole horizon ends on or before day index `last_origin_target`.

    Past `max_training_rows` (counted over all the panel's origins), every origin keeps the same
    share of its (product, horizon) samples, drawn from a generator seeded by the origin: an origin
    keeps the same samples in every training set it is part of, and `cache` keeps them for the
    next training set.
    """
    origins = _training_origins(last_origin_target, params)
    if not origins:
        raise InsufficientHistory("no training origin fits before the backtest window")
    per_origin = len(panel.products) * params.horizon_days
    # The share is the panel's (counted over every origin it holds), not this training set's.
    available = len(_training_origins(len(panel.days) - 1, params))
    share = min(1.0, params.max_training_rows / (per_origin * max(available, 1)))
    frames = []
    cache = {} if cache is None else cache
    for o in sorted(origins):
        if o not in cache:
            f = features_at(panel, o, params.horizon_days)
            f["y"] = actuals_at(panel, o, params.horizon_days)
            if share < 1.0:
                f = f[np.random.default_rng([params.random_state, o]).random(per_origin) < share]
            cache[o] = f
        frames.append(cache[o])
    return pd.concat(frames, ignore_index=True)


def informative_features(train: pd.DataFrame) -> list[str]:
    """The features with at least two distinct known values in the training samples.

    Without a product catalogue, price, promotion and category are unknown everywhere (all NaN):
    gradient boosting cannot bin a column with no value, and a constant column can never split, so
    such columns are left out of the model (the model records the features it uses).
    """
    return [f for f in FEATURES if train[f].dropna().nunique() > 1]


def fit(train: pd.DataFrame, params: DemandParams, offset: float = 0.0) -> DemandModel:
    level = level_of(train)
    features = informative_features(train)
    # Ratios to the level, weighted by the level: errors count in units, as in WAPE.
    x, y = design(train, features), train["y"].to_numpy(dtype=float) / level
    models = {}
    for q in QUANTILES:
        m = HistGradientBoostingRegressor(
            loss="quantile",
            quantile=q,
            learning_rate=params.learning_rate,
            max_iter=params.max_iter,
            max_leaf_nodes=params.max_leaf_nodes,
            min_samples_leaf=params.min_samples_leaf,
            early_stopping=False,
            random_state=params.random_state,
        )
        with limited_threads():
            models[q] = m.fit(x, y, sample_weight=level)
    mean_model = HistGradientBoostingRegressor(
        loss="poisson",
        learning_rate=params.learning_rate,
        max_iter=params.max_iter,
        max_leaf_nodes=params.max_leaf_nodes,
        min_samples_leaf=params.min_samples_leaf,
        early_stopping=False,
        random_state=params.random_state,
    )
    with limited_threads():
        mean_model.fit(x, y, sample_weight=level)
    trained_through = str(max(train["target_date"]))
    return DemandModel(models, mean_model, offset, features, params.horizon_days, trained_through)


@dataclass
class Backtest:
    """Rolling-origin backtest: the newest origin is the evaluation window, older ones calibrate."""

    origins: list[str]
    metrics: dict
    naive_metrics: dict
    per_origin: list[dict]
    interval_offset: float
    predictions: pd.DataFrame = field(repr=False)  # every backtest target with model, naive and actual

    def as_dict(self) -> dict:
        out = asdict(self)
        out.pop("predictions")
        return out


def error_metrics(
    actual: np.ndarray,
    forecast: np.ndarray,
    naive: np.ndarray,
    low: np.ndarray | None = None,
    high: np.ndarray | None = None,
) -> dict:
    mae, mae_naive = float(np.abs(actual - forecast).mean()), float(np.abs(actual - naive).mean())
    total = float(actual.sum())
    out = {
        "wape": float(np.abs(actual - forecast).sum() / total) if total else float("nan"),
        "mae": mae,
        "mase": mae / mae_naive if mae_naive else float("nan"),
        "bias": float((forecast - actual).mean()),
        "n": int(actual.size),
    }
    if low is not None:
        out["coverage_80"] = float(((actual >= low) & (actual <= high)).mean())
    return out


def plan_origins(panel: Panel, params: DemandParams) -> list[int]:
    """Backtest origins, newest first; the newest one's window ends on the last day."""
    last = len(panel.days) - 1
    origins = [last - params.horizon_days - k * params.backtest_step_days for k in range(params.backtest_origins)]
    needed = HISTORY_DAYS + 2 * params.horizon_days + (params.backtest_origins - 1) * params.backtest_step_days
    if origins[-1] - params.horizon_days < HISTORY_DAYS - 1:
        raise InsufficientHistory(
            f"the demand backtest needs at least {needed} days of sales history ({params.backtest_origins} "
            f"origins {params.backtest_step_days} days apart, horizon {params.horizon_days}); the warehouse has "
            f"{len(panel.days)} ({panel.days[0].date()} to {panel.last_day}). Load more history or shorten "
            f"horizon_days."
        )
    return origins


def backtest(panel: Panel, params: DemandParams) -> tuple[Backtest, DemandModel]:
    """Fit at every origin, measure on its window; return the backtest and the newest origin's model."""
    origins = plan_origins(panel, params)
    rows, models, cache = [], {}, {}
    for o in origins:
        model = fit(training_set(panel, o, params, cache), params)
        feats = features_at(panel, o, params.horizon_days)
        pred = model.predict(feats)
        rows.append(
            feats[["product_id", "target_date", "origin", "horizon", "naive"]].assign(
                actual=actuals_at(panel, o, params.horizon_days),
                raw_p10=pred["p10"].to_numpy(),
                p50=pred["p50"].to_numpy(),
                raw_p90=pred["p90"].to_numpy(),
                expected=pred["expected"].to_numpy(),
            )
        )
        models[o] = model
    predictions = pd.concat(rows, ignore_index=True)
    newest, older = origins[0], origins[1:]
    calib = predictions[predictions["origin"].isin(older)]
    scores = np.maximum(calib["raw_p10"] - calib["actual"], calib["actual"] - calib["raw_p90"])
    offset = float(max(0.0, np.quantile(scores, 0.8, method="higher"))) if len(scores) else 0.0
    predictions["p10"] = np.minimum(np.maximum(predictions["raw_p10"] - offset, 0.0), predictions["p50"])
    predictions["p90"] = np.maximum(predictions["raw_p90"] + offset, predictions["p50"])
    window = predictions[predictions["origin"] == newest]
    per_origin = []
    for o in origins:
        part = predictions[predictions["origin"] == o]
        per_origin.append(
            {
                "origin": str(panel.days[o].date()),
                **error_metrics(
                    part["actual"].to_numpy(),
                    part["p50"].to_numpy(),
                    part["naive"].to_numpy(),
                    part["p10"].to_numpy(),
                    part["p90"].to_numpy(),
                ),
            }
        )
    overall = error_metrics(
        predictions["actual"].to_numpy(), predictions["p50"].to_numpy(), predictions["naive"].to_numpy()
    )
    newest_metrics = error_metrics(
        window["actual"].to_numpy(),
        window["p50"].to_numpy(),
        window["naive"].to_numpy(),
        window["p10"].to_numpy(),
        window["p90"].to_numpy(),
    )
    total = float(window["actual"].sum())
    metrics = {
        **overall,
        "coverage_80": newest_metrics["coverage_80"],
        "window_mase": newest_metrics["mase"],
        "window_mae": newest_metrics["mae"],
        "window_total_error": float(window["expected"].sum() / total - 1) if total else float("nan"),
    }
    naive_metrics = error_metrics(
        predictions["actual"].to_numpy(), predictions["naive"].to_numpy(), predictions["naive"].to_numpy()
    )
    model = models[newest]
    model.offset = offset
    result = Backtest(
        [str(panel.days[o].date()) for o in origins], metrics, naive_metrics, per_origin, offset, predictions
    )
    return result, model


def window_mae(model: DemandModel, panel: Panel, origin: int) -> float:
    """A (stored) model's MAE on the window after `origin` (used to compare with the champion)."""
    feats = features_at(panel, origin, model.horizon)
    return float(np.abs(actuals_at(panel, origin, model.horizon) - model.predict(feats)["p50"].to_numpy()).mean())


def forecast(
    model: DemandModel | None, panel: Panel, horizon: int, naive_residuals: np.ndarray | None = None
) -> pd.DataFrame:
    """The next `horizon` days from the last day: the model's quantiles, or seasonal naive if model is None."""
    origin = len(panel.days) - 1
    feats = features_at(panel, origin, horizon)
    if model is not None:
        pred = model.predict(feats)
    else:
        resid = naive_residuals if naive_residuals is not None and len(naive_residuals) else np.array([0.0])
        lo, hi = np.quantile(resid, [0.1, 0.9])
        base = feats["naive"].to_numpy()
        pred = pd.DataFrame(
            {"p10": np.maximum(base + lo, 0.0), "p50": base, "p90": np.maximum(base + hi, base), "expected": base}
        )
    return pd.DataFrame(
        {
            "product_id": feats["product_id"].to_numpy(),
            "forecast_date": feats["target_date"].to_numpy(),
            "p10": pred["p10"].to_numpy(),
            "p50": pred["p50"].to_numpy(),
            "p90": pred["p90"].to_numpy(),
            "expected_units": pred["expected"].to_numpy(),
        }
    )


def params_dict(params: DemandParams) -> dict:
    return asdict(params)
