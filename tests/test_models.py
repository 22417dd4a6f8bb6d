"""Retention and demand models: point-in-time features, honest evaluation, the promotion gate,
and predictions traceable to the promoted model."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from core.settings import Settings
from ml import demand as dm
from ml.evaluation import classification_metrics, decide
from ml.retention_features import FEATURES, build_features
from ml.store import ModelStore, model_version
from orchestration.application.demand import DEMAND
from orchestration.application.retention import RETENTION
from orchestration.definitions import PLATFORM_JOB, build_definitions
from orchestration.names import MODEL_JOB
from tests.conftest import build_platform

pytestmark = pytest.mark.slow

# The views the features read, and the raw table and event-time column behind each.
RAW_BEHIND = {
    "intermediate.int_order_lines": ("intermediate.int_order_lines", "recorded_at"),
    "intermediate.int_customer_daily_activity": ("intermediate.int_customer_daily_activity", "activity_date"),
    "staging.stg_feedback__nps": ("raw.nps_surveys", "responded_at"),
    "staging.stg_feedback__tickets": ("raw.support_tickets", "created_at"),
    "staging.stg_shop__users": ("raw.users", "signed_up_at"),
}


def _latest(instance: dg.DagsterInstance, key: list[str]) -> dict:
    event = instance.get_latest_materialization_event(dg.AssetKey(key))
    assert event is not None, f"{'/'.join(key)} was never materialised"
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def _copy(platform, tmp_path) -> Settings:
    """A private copy of the platform's data (warehouse, model store) to change without side effects."""
    shutil.copytree(platform.settings.data_dir, tmp_path / "data")
    s = platform.settings
    return Settings(
        data_dir=tmp_path / "data",
        landing_dir=s.landing_dir,
        partitions_start=s.partitions_start,
        demo_start=s.demo_start,
        demo_end=s.demo_end,
    )


def _run_assets(settings: Settings, keys: list[str], run_config: dict | None = None, job: str = MODEL_JOB):
    defs = build_definitions(settings)
    selection = [dg.AssetKey(k.split("/")) for k in keys]
    return defs.resolve_job_def(job).execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        asset_selection=selection,
        run_config=run_config or {},
        raise_on_error=False,
    )


def _checks(result) -> dict[str, tuple[bool, str]]:
    out = {}
    for e in result.all_events:
        if e.event_type_value == "ASSET_CHECK_EVALUATION":
            ev = e.event_specific_data
            out[f"{ev.asset_key.to_user_string()}:{ev.check_name}"] = (ev.passed, ev.severity.value)
    return out


# ------------------------------------------------------------------------------------- unit level
def test_metrics_match_hand_computed_values():
    y = np.array([1, 0, 1, 0, 1, 0, 0, 0, 1, 0])
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.55, 0.4, 0.3, 0.2, 0.1, 0.05])
    m = classification_metrics(y, p)
    # (positive, negative) pairs ranked correctly, positive by positive: 6 + 5 + 4 + 1 of 4 x 6.
    assert m["roc_auc"] == pytest.approx(16 / 24)
    assert m["brier"] == pytest.approx(float(np.mean((p - y) ** 2)))
    assert m["top_decile_lift"] == pytest.approx(1 / 0.4)  # the top prediction is a positive; base rate 0.4


def test_promotion_rule():
    assert decide("b", None, True, True, "ok", "").promote
    assert not decide("b", "a", False, True, "worse than baseline", "").promote
    assert not decide("b", "a", True, False, "ok", "worse than champion").promote
    assert not decide("a", "a", True, True, "ok", "").promote, "the champion is not promoted over itself"
    assert decide("b", "a", True, True, "ok", "better").promote


def test_model_store_versions_by_content_and_promotes_explicitly(tmp_path):
    store = ModelStore(tmp_path)
    identity = {"window": "2026-01-01", "features": ["a"], "params": {"x": 1}, "code": "v1"}
    first = store.save("m", identity, {"w": 1}, {"metrics": {"auc": 0.7}})
    again = store.save("m", identity, {"w": 2}, {"metrics": {"auc": 0.1}})
    assert first.version == again.version == model_version(identity) and again.model == {"w": 1}
    newer = store.save("m", {**identity, "params": {"x": 2}}, {"w": 3}, {})
    assert store.champion("m") is None, "nothing is served before a promotion"
    store.promote("m", first.version, {"reason": "test"})
    assert store.champion("m").version == first.version, "the newest stored model is not the champion"
    assert newer.version in store.versions("m")
    meta = store.load("m", first.version).metadata
    assert {"libraries", "identity", "metrics", "stored_at"} <= set(meta)
    assert "scikit-learn" in meta["libraries"]


def test_seasonal_naive_repeats_the_last_week():
    days = pd.date_range("2026-01-01", periods=60, freq="D")
    units = np.tile(np.arange(7, dtype=float), 9)[:60][None, :]
    panel = dm.Panel(np.array(["P1"]), days, units, np.ones((1, 60)), np.zeros((1, 60)), np.zeros((1, 60)), np.zeros(1))
    origin = 40
    naive = dm.naive_forecast(panel, origin, 14)[0]
    assert list(naive) == list(units[0, origin + 1 : origin + 15]), "a weekly pattern is forecast exactly"


def test_demand_trains_without_a_product_catalogue():
    """Orders only: price, promotion and category are unknown (NaN) everywhere. The model leaves
    them out, trains, and its forecast is finite and beats seasonal naive on a weekly pattern."""
    rng = np.random.default_rng(3)
    n, days = 6, pd.date_range("2026-01-01", periods=140, freq="D")
    weekly = np.array([1, 1, 2, 2, 3, 6, 5], dtype=float)
    units = rng.poisson(np.outer(np.arange(1, n + 1), np.tile(weekly, 20))).astype(float)
    unknown = np.full((n, len(days)), np.nan)
    panel = dm.Panel(
        np.array([f"P{i}" for i in range(n)], dtype=object),
        days,
        units,
        unknown,
        np.zeros_like(units),
        np.zeros_like(units),
        np.full(n, np.nan),
    )
    result, model = dm.backtest(panel, dm.DemandParams())
    assert not {"price_ratio", "on_promotion", "promo_pct", "category_code"} & set(model.features)
    assert {"naive", "mean_28", "dow"} <= set(model.features)
    out = dm.forecast(model, panel, 28)
    assert np.isfinite(out[["p10", "p50", "p90", "expected_units"]].to_numpy()).all()
    assert result.metrics["mase"] < 1, result.metrics


def _catalogue_panel(n: int, days: int = 120) -> dm.Panel:
    rng = np.random.default_rng(5)
    index = pd.date_range("2026-01-01", periods=days, freq="D")
    units = rng.poisson(np.outer(rng.uniform(0.1, 4, n), np.ones(days))).astype(float)
    ones, zeros = np.ones((n, days)), np.zeros((n, days))
    return dm.Panel(
        np.array([f"P{i:05d}" for i in range(n)], dtype=object), index, units, ones, zeros, zeros, zeros[:, 0]
    )


def test_a_large_catalogue_trains_on_an_even_sample_of_every_origin():
    """Past max_training_rows each origin keeps the same share of its samples, the same ones in
    every training set; below it nothing is left out."""
    panel = _catalogue_panel(300)
    full_params = dm.DemandParams()
    last = len(panel.days) - 1
    full = dm.training_set(panel, last, full_params)
    assert len(full) < full_params.max_training_rows
    small = dm.DemandParams(max_training_rows=5_000)
    sampled = dm.training_set(panel, last, small)
    assert 0.8 * 5_000 < len(sampled) <= 1.2 * 5_000, len(sampled)
    per_origin = full.groupby("origin").size()
    kept = sampled.groupby("origin").size() / per_origin
    assert kept.index.equals(per_origin.index), "every origin is sampled"
    assert kept.between(0.5 * kept.mean(), 1.5 * kept.mean()).all(), kept
    keys = ["origin", "product_id", "horizon"]
    merged = sampled.merge(full, on=keys, suffixes=("", "_full"))
    assert len(merged) == len(sampled), "samples are rows of the full training set"
    assert np.array_equal(merged["y"], merged["y_full"]) and np.array_equal(merged["mean_28"], merged["mean_28_full"])
    older = dm.training_set(panel, last - 7, small)
    common = sorted(set(older["origin"]))
    pd.testing.assert_frame_equal(
        older[older["origin"].isin(common)].reset_index(drop=True),
        sampled[sampled["origin"].isin(common)].reset_index(drop=True),
    )


# ----------------------------------------------------------------------- on the simulated platform
def test_features_are_point_in_time(platform, tmp_path):
    """Changing or deleting every row on or after the cutoff leaves the features unchanged."""
    source = platform.settings.warehouse_path
    cutoff = dt.date(2026, 1, 15)
    with duckdb.connect(str(source), read_only=True) as con:
        before = build_features(con, [cutoff], horizon_days=60)
    assert len(before) > 100
    for mode in ("delete", "change"):
        copy = tmp_path / f"{mode}.duckdb"
        shutil.copy(source, copy)
        with duckdb.connect(str(copy)) as con:
            for table, column in RAW_BEHIND.values():
                where = f"{column} >= date '{cutoff}'"
                if mode == "delete":
                    con.execute(f"delete from {table} where {where}")
                elif table == "intermediate.int_order_lines":
                    con.execute(
                        f"update {table} set net_amount = net_amount * 7, line_type = 'sale', "
                        f"recorded_at = recorded_at where {where}"
                    )
                elif table == "intermediate.int_customer_daily_activity":
                    con.execute(f"update {table} set sessions = sessions + 50, events = events * 3 where {where}")
                elif table == "raw.nps_surveys":
                    con.execute(f"update {table} set score = 0 where {where}")
                elif table == "raw.support_tickets":
                    con.execute(f"update {table} set status = 'open' where {where}")
            after = build_features(con, [cutoff], horizon_days=60)
        pd.testing.assert_frame_equal(before[["customer_id", *FEATURES]], after[["customer_id", *FEATURES]])
        if mode == "delete":
            assert after["label"].fillna(0).sum() == 0, "deleting the future removes every positive label"


def test_retention_model_beats_the_baseline_and_scores_carry_the_champion(platform):
    meta = _latest(platform.instance, ["application", "retention_candidate"])
    assert meta["roc_auc"] > meta["baseline_roc_auc"] + 0.01, meta
    assert meta["brier"] < meta["baseline_brier"]
    store = ModelStore(platform.settings.model_dir)
    champion = store.champion_version(RETENTION)
    assert champion == meta["model_version"], "the first candidate that beats the baseline is promoted"
    with duckdb.connect(str(platform.settings.warehouse_path), read_only=True) as con:
        scores = con.execute("select * from application.churn_risk_scores").df()
        profile = con.execute(
            "select customer_id, churn_risk, churn_risk_decile, churn_risk_segment, "
            "churn_model_version from marts.user_profile"
        ).df()
        scoring = con.execute("select count(*) from features.retention where role = 'scoring'").fetchall()[0][0]
    assert len(scores) == scoring > 0
    assert set(scores["model_version"]) == {champion}
    assert scores["churn_probability"].between(0, 1).all() and set(scores["risk_decile"]) == set(range(1, 11))
    merged = profile.merge(scores, on="customer_id")
    assert len(merged) == len(scores), "every scored customer has a profile"
    assert np.allclose(merged["churn_risk"], merged["churn_probability"])
    assert (merged["churn_model_version"] == champion).all()
    high = merged[merged["churn_risk_segment"] == "high"]
    assert len(high) and (high["risk_decile"] >= 9).all()
    assert (profile.loc[profile["churn_risk"].isna(), "churn_risk_segment"] == "unscored").all()


def test_demand_model_beats_seasonal_naive_and_the_forecast_is_served_from_the_champion(platform):
    meta = _latest(platform.instance, ["application", "demand_candidate"])
    assert meta["window_mase"] < 1 and meta["mase"] < 1, meta
    assert len(meta["origins"]) >= 3
    assert 0.6 <= meta["coverage_80"] <= 0.95, "the 80% interval covers roughly 80% of the window"
    champion = ModelStore(platform.settings.model_dir).champion_version(DEMAND)
    assert champion == meta["model_version"]
    with duckdb.connect(str(platform.settings.warehouse_path), read_only=True) as con:
        fc = con.execute("select * from application.demand_forecast").df()
        products = con.execute("select count(distinct product_id) from features.demand_daily").fetchall()[0][0]
        last = con.execute("select max(day) from features.demand_daily").fetchall()[0][0]
    assert len(fc) == products * 28
    assert set(fc["method"]) == {"model"} and set(fc["model_version"]) == {champion}
    assert (fc["p10"] <= fc["p50"]).all() and (fc["p50"] <= fc["p90"]).all()
    assert (fc["expected_units"] >= 0).all() and fc["expected_units"].sum() > 0
    assert pd.to_datetime(fc["forecast_date"]).min().date() == last + dt.timedelta(days=1)


def test_retraining_is_deterministic_and_a_worse_candidate_is_not_promoted(platform, tmp_path):
    settings = _copy(platform, tmp_path)
    store = ModelStore(settings.model_dir)
    champion = store.champion_version(RETENTION)
    first = _latest(platform.instance, ["application", "retention_candidate"])
    keys = ["application/retention_candidate", "application/retention_model", "application/churn_risk_scores"]

    again = _run_assets(settings, keys)
    assert again.success
    meta = {
        k: v.value
        for k, v in again.asset_materializations_for_node("application__retention_candidate")[0].metadata.items()
    }
    assert meta["model_version"] == champion and meta["roc_auc"] == first["roc_auc"], "same seed, same model"

    # Stumps-like trees with large leaves underfit: better than every baseline, worse than the
    # champion. (Deep unregularised trees overfit so far that they no longer beat the RFM logistic
    # baseline: the gate stops them in red.)
    worse = _run_assets(
        settings,
        keys,
        {"ops": {"application__retention_candidate": {"config": {"max_leaf_nodes": 3, "min_samples_leaf": 200}}}},
    )
    assert worse.success, "a candidate that only loses to the champion is a warning, not a failed run"
    assert _checks(worse)["application/retention_candidate:promotion_gate"] == (False, "WARN")
    assert store.champion_version(RETENTION) == champion, "the champion is unchanged"
    last = store.decisions(RETENTION)[-1]
    assert last["action"] == "kept" and last["champion"] == champion and "does not beat champion" in last["reason"]
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        versions = {
            r[0] for r in con.execute("select distinct model_version from application.churn_risk_scores").fetchall()
        }
    assert versions == {champion}, "predictions carry the champion's version, not the newest model's"


def test_the_forecast_falls_back_to_seasonal_naive_when_the_model_does_not_beat_it(platform, tmp_path):
    settings = _copy(platform, tmp_path)
    strict = _run_assets(
        settings,
        ["application/demand_candidate", "application/demand_model", "application/demand_forecast"],
        {"ops": {"application__demand_candidate": {"config": {"max_mase": 0.05}}}},
    )
    assert not strict.success, "a red gate stops the run"
    assert _checks(strict)["application/demand_candidate:promotion_gate"] == (False, "ERROR")
    serving = json.loads((settings.model_dir / DEMAND / "serving.json").read_text())
    assert serving["serve"] == "seasonal_naive"
    daily = _run_assets(settings, ["application/demand_forecast"], job=PLATFORM_JOB)
    assert daily.success
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        fc = con.execute("select * from application.demand_forecast").df()
        units = con.execute("select product_id, day, units from features.demand_daily").df()
    assert set(fc["method"]) == {"seasonal_naive"} and set(fc["model_version"]) == {"seasonal_naive"}
    # Seasonal naive: each day repeats the same weekday of the last observed week.
    units["day"] = pd.to_datetime(units["day"])
    last = units["day"].max()
    row = fc.iloc[0]
    target = pd.Timestamp(row["forecast_date"])
    source_day = target - pd.Timedelta(days=7 * int(np.ceil((target - last).days / 7)))
    expected = units[(units["product_id"] == row["product_id"]) & (units["day"] == source_day)]["units"].iloc[0]
    assert row["p50"] == expected


def test_without_behavioural_drivers_the_gate_refuses_to_promote(tmp_path):
    """A business whose churn has no drivers: the candidate cannot beat the baseline; nothing is promoted."""
    start, end = dt.date(2025, 10, 1), dt.date(2026, 1, 8)  # 100 days: a 30-day horizon fits twice
    built = build_platform(
        tmp_path, start, end, scale=0.8, seed=9, drivers=False, sources=("orders",), jobs=(PLATFORM_JOB,)
    )
    defs = build_definitions(built.settings)
    result = defs.resolve_job_def(MODEL_JOB).execute_in_process(
        instance=built.instance,
        raise_on_error=False,
        run_config={"ops": {"application__retention_features": {"config": {"horizon_days": 30}}}},
        asset_selection=[
            dg.AssetKey(["application", k])
            for k in ("retention_features", "retention_candidate", "retention_model", "churn_risk_scores")
        ],
    )
    assert not result.success
    passed, severity = _checks(result)["application/retention_candidate:promotion_gate"]
    assert (passed, severity) == (False, "ERROR")
    assert ModelStore(built.settings.model_dir).champion_version(RETENTION) is None
    meta = {
        k: v.value
        for k, v in result.asset_materializations_for_node("application__retention_candidate")[0].metadata.items()
    }
    assert meta["auc_gain"] < 0.05, meta


@pytest.mark.parametrize(("asset", "model"), [("retention_candidate", RETENTION), ("demand_candidate", DEMAND)])
def test_the_charts_on_a_model_asset_page_are_images_the_api_serves(platform, asset, model):
    """The asset page's markdown names an http(s) image (the Dagster UI drops data: URIs); the data API,
    started on the platform's serving directory, answers that address with the chart's PNG."""
    import re

    import httpx

    from api.app import create_app
    from tests.test_api import running

    meta = _latest(platform.instance, ["application", asset])
    markdown = meta["charts"]
    assert "data:" not in markdown
    url = re.fullmatch(r"!\[[^\]]+\]\((http://[^)]+)\)", markdown.strip()).group(1)
    base = platform.settings.charts_url.rstrip("/")
    assert url.startswith(base + f"/{model}/{meta['model_version']}/") and url.endswith(".png")
    chart_file = platform.settings.serving_dir / "charts" / url.removeprefix(base + "/")
    assert str(chart_file) == meta["chart_file"]
    with running(create_app(platform.settings.serving_path, {})) as server:
        response = httpx.get(server + "/charts/" + url.removeprefix(base + "/"))
        assert response.status_code == 200 and response.headers["content-type"] == "image/png"
        assert response.content == chart_file.read_bytes() and response.content.startswith(b"\x89PNG\r\n\x1a\n")
        for bad in (f"/charts/{model}/..%2F..%2Fserving.duckdb/x.png", f"/charts/{model}/nope/roc.png"):
            assert httpx.get(server + bad).status_code in (404, 422), bad
