"""Retention and demand models as assets: feature tables behind blocking checks, candidates,
champions promoted through a blocking gate, and the predictions of the champion.

    retention_features --(checks)--> retention_candidate --(promotion_gate)--> retention_model
            \\                                                                         |
             `-------------------------------------------------------------> churn_risk_scores
    demand_panel --(checks)--> demand_candidate --(promotion_gate)--> demand_model --> demand_forecast

Candidates and champions carry the `dmp/cadence: weekly` tag: the daily job leaves them out (it
scores with the current champion) and the `model_training` job, scheduled weekly, retrains.
"""

import datetime as dt
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field
from sklearn.metrics import roc_auc_score

from ml import demand as dm
from ml import retention as rt
from ml.evaluation import decide, forecast_chart, markdown_image, roc_and_calibration_chart
from ml.panel import PANEL_TABLE, build_panel_table, panel_checks, read_panel
from ml.retention_features import (FEATURES, SOURCES, CutoffPlan, InsufficientHistory, build_features,
                                   order_history_span, plan_cutoffs)
from ml.store import ModelStore, model_version
from orchestration.resources import WarehouseResource
from orchestration.settings import Settings
from orchestration.storage.assets import WAREHOUSE_POOL

MODEL_JOB = "model_training"
WEEKLY = {"dmp/cadence": "weekly"}
RETENTION, DEMAND = "retention", "demand"
FEATURE_CHECK = "feature_table_valid"
PROMOTION_GATE = "promotion_gate"
RETENTION_TABLE = "features.retention"
OWNERS = ["team:data-science"]


def _key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["application", name])


class ModelStoreResource(dg.ConfigurableResource):
    """The versioned model store (outside git)."""

    root: str

    def store(self) -> ModelStore:
        return ModelStore(Path(self.root))


def _read_pending(store: ModelStore, name: str, run_id: str) -> dict:
    """The candidate this run evaluated (written by the candidate asset, read by the champion asset)."""
    record = store.read_record(name, "pending")
    if record.get("run_id") != run_id:
        raise dg.Failure(f"no {name} candidate was evaluated in this run (run {run_id}); "
                         f"materialise application/{name}_candidate with application/{name}_model",
                         allow_retries=False)
    return record


def _is_champion(champion, version: str) -> bool:
    """A retrained candidate identical to the champion (still beating the baseline) passes without a promotion."""
    return champion is not None and champion.version == version


def _md_table(rows: list[dict]) -> str:
    if not rows:
        return "(none)"
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in r.values()) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------- retention
class RetentionFeaturesConfig(dg.Config):
    horizon_days: int = Field(60, ge=7, description="Label: buys again within this many days of the cutoff.")
    active_days: int = Field(90, ge=7, description="Population: customers with a purchase in these days before the cutoff.")
    training_cutoffs: int = Field(4, ge=1, description="How many past cutoffs the training set stacks.")
    cutoff_step_days: int = Field(14, ge=1, description="Days between training cutoffs.")
    min_history_days: int = Field(28, ge=0, description="History a cutoff needs before it.")


class RetentionTrainingConfig(dg.Config):
    learning_rate: float = Field(0.03, gt=0, description="Gradient boosting learning rate.")
    max_iter: int = Field(150, ge=10, description="Boosting iterations.")
    max_leaf_nodes: int = Field(5, ge=2, description="Leaves per tree.")
    min_samples_leaf: int = Field(80, ge=1, description="Minimum customers per leaf.")
    l2_regularization: float = Field(1.0, ge=0, description="L2 penalty.")
    random_state: int = Field(0, description="Seed: same seed, same model and metrics.")
    min_auc_gain: float = Field(0.01, ge=0, description="ROC AUC the candidate must gain over the baseline.")


@dg.asset(
    key=_key("retention_features"), group_name="application", kinds={"python", "duckdb"}, owners=OWNERS,
    code_version="retention-features-v1", pool=WAREHOUSE_POOL, backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[dg.AssetKey(table.split(".")) for table in SOURCES],
    check_specs=[dg.AssetCheckSpec(FEATURE_CHECK, asset=_key("retention_features"), blocking=True,
                                   description="Training, evaluation and scoring rows present, unique, both "
                                               "label classes, no impossible values.")],
    description="Point-in-time retention features and labels at the training, evaluation and scoring cutoffs.",
)
def retention_features(context: dg.AssetExecutionContext, config: RetentionFeaturesConfig,
                       warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.connect() as con:
        span = order_history_span(con)
        if span is None:
            raise dg.Failure("intermediate.int_order_lines has no sales: nothing to build retention features from",
                             allow_retries=False)
        try:
            plan = plan_cutoffs(span[0], span[1], config.horizon_days, config.training_cutoffs,
                                config.cutoff_step_days, config.min_history_days)
            too_short = None
        except InsufficientHistory as exc:
            # Scoring rows only: the daily run goes on; training waits for enough history.
            scoring = span[1] + dt.timedelta(days=1)
            plan, too_short = CutoffPlan((), scoring, scoring), str(exc)
        frame = build_features(con, plan.all(), config.horizon_days, config.active_days)
        roles = {c: "training" for c in plan.training} | ({plan.evaluation: "evaluation"} if not too_short else {})
        roles[plan.scoring] = "scoring"
        frame.insert(1, "role", frame["cutoff"].map(roles))
        frame["horizon_days"] = config.horizon_days
        con.execute("create schema if not exists features")
        con.register("retention_frame", frame)
        con.execute(f"create or replace table {RETENTION_TABLE} as select * from retention_frame")
        con.unregister("retention_frame")
    problems = []
    counts = frame.groupby("role").size().to_dict()
    for role in ("training", "evaluation", "scoring") if not too_short else ("scoring",):
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
    if np.isinf(values).any() or (frame[["recency_days", "frequency", "tenure_days"]] < 0).any().any():
        problems.append("infinite or negative recency/frequency/tenure values")
    rates = labelled.groupby("role")["label"].apply(lambda s: float(s.astype(float).mean())).to_dict()
    return dg.MaterializeResult(
        metadata={"rows": len(frame), "rows_by_role": dg.MetadataValue.json(counts),
                  "positive_rate_by_role": dg.MetadataValue.json(rates),
                  "cutoffs": dg.MetadataValue.json({"training": [str(c) for c in plan.training],
                                                    "evaluation": str(plan.evaluation),
                                                    "scoring": str(plan.scoring)}),
                  "features": dg.MetadataValue.json(FEATURES)},
        check_results=[dg.AssetCheckResult(
            check_name=FEATURE_CHECK, passed=not problems and not too_short,
            severity=dg.AssetCheckSeverity.ERROR if problems else dg.AssetCheckSeverity.WARN,
            description="; ".join(problems) or too_short or "feature table valid",
            metadata={"rows_by_role": dg.MetadataValue.json(counts)})],
    )


def _read_retention(warehouse: WarehouseResource) -> pd.DataFrame:
    with warehouse.connect(read_only=True) as con:
        frame = con.execute(f"select * from {RETENTION_TABLE} order by cutoff, customer_id").df()
    frame["cutoff"] = pd.to_datetime(frame["cutoff"]).dt.date
    return frame


@dg.asset(
    key=_key("retention_candidate"), group_name="application", kinds={"scikitlearn"}, owners=OWNERS,
    code_version=rt.CODE_VERSION, tags=WEEKLY, deps=[_key("retention_features")],
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[dg.AssetCheckSpec(PROMOTION_GATE, asset=_key("retention_candidate"), blocking=True,
                                   description="Red when the candidate does not beat the recency/frequency "
                                               "baseline; yellow when it does but not the champion.")],
    description="Retention candidate: trained on past cutoffs, evaluated with the baseline and the champion on a later cutoff.",
)
def retention_candidate(context: dg.AssetExecutionContext, config: RetentionTrainingConfig,
                        warehouse: WarehouseResource, models: ModelStoreResource) -> dg.MaterializeResult:
    store = models.store()
    frame = _read_retention(warehouse)
    train, evaluation = frame[frame["role"] == "training"], frame[frame["role"] == "evaluation"]
    labelled = evaluation[evaluation["label"].notna()]
    if train.empty or evaluation.empty:
        raise dg.Failure("features.retention has no training or evaluation rows: the order history is too short "
                         "for the configured horizon (see the retention_features check)", allow_retries=False)
    params = rt.RetentionParams(config.learning_rate, config.max_iter, config.max_leaf_nodes,
                                config.min_samples_leaf, config.l2_regularization, config.random_state)
    model = rt.fit(train, params)
    rule = rt.RecencyFrequencyRule().fit(train[train["label"].notna()])
    result, p_model, p_rule = rt.evaluate(model, rule, evaluation, seed=config.random_state)
    window = {"training_cutoffs": sorted(str(c) for c in train["cutoff"].unique()),
              "evaluation_cutoff": str(evaluation["cutoff"].iloc[0]),
              "horizon_days": int(frame["horizon_days"].iloc[0]), "rows": int(len(train))}
    identity = {"code": rt.CODE_VERSION, "params": params.__dict__, "features": model.features, "window": window,
                "data": int(pd.util.hash_pandas_object(train[FEATURES + ["label"]], index=False).sum())}
    stored = store.save(RETENTION, identity, {"model": model, "baseline": rule},
                        {"metrics": result.as_dict(), "training_window": window, "features": model.features,
                         "params": params.__dict__, "code_version": rt.CODE_VERSION})
    ok_base, base_reason = rt.beats_baseline(result, config.min_auc_gain)
    champion = store.champion(RETENTION)
    champion_auc, champion_reason, beats_champion = None, "no champion yet", True
    if champion is not None and champion.version != stored.version:
        champion_auc = float(roc_auc_score(labelled["label"].astype(int),
                                           champion.model["model"].predict_proba(labelled)))
        beats_champion = result.model["roc_auc"] > champion_auc
        champion_reason = (f"{'beats' if beats_champion else 'does not beat'} champion {champion.version} "
                           f"(ROC AUC {champion_auc:.4f} on the same cutoff)")
    decision = decide(stored.version, champion.version if champion else None, ok_base, beats_champion,
                      base_reason, champion_reason)
    store.write_record(RETENTION, "pending", {"run_id": context.run.run_id, "version": stored.version,
                                              "decision": decision.as_dict(), "metrics": result.model,
                                              "champion_auc_same_window": champion_auc})
    chart = roc_and_calibration_chart(labelled["label"].astype(int).to_numpy(),
                                      {"model": p_model, "recency/frequency rule": p_rule})
    severity = dg.AssetCheckSeverity.ERROR if not ok_base else dg.AssetCheckSeverity.WARN
    return dg.MaterializeResult(
        metadata={
            "model_version": stored.version,
            "roc_auc": result.model["roc_auc"], "pr_auc": result.model["pr_auc"], "brier": result.model["brier"],
            "top_decile_lift": result.model["top_decile_lift"],
            "baseline_roc_auc": result.baseline["roc_auc"], "baseline_pr_auc": result.baseline["pr_auc"],
            "baseline_brier": result.baseline["brier"], "baseline_top_decile_lift": result.baseline["top_decile_lift"],
            "auc_gain": result.auc_gain, "evaluation_customers": result.model["n"],
            "training_window": dg.MetadataValue.json(window),
            "calibration": dg.MetadataValue.md(_md_table(result.calibration_model)),
            "charts": dg.MetadataValue.md(markdown_image(chart, "ROC and calibration")),
            "decision": decision.reason,
        },
        check_results=[dg.AssetCheckResult(
            check_name=PROMOTION_GATE,
            passed=decision.promote or (decision.beats_baseline and _is_champion(champion, stored.version)),
            severity=severity, description=decision.reason,
            metadata={"promote": decision.promote, "beats_baseline": ok_base, "beats_champion": beats_champion})],
    )


def _promote(context: dg.AssetExecutionContext, store: ModelStore, name: str) -> dg.MaterializeResult:
    pending = _read_pending(store, name, context.run.run_id)
    decision = pending["decision"]
    if decision["promote"]:
        store.promote(name, pending["version"], {"reason": decision["reason"], "run_id": context.run.run_id,
                                                 "metrics": pending["metrics"]})
        action = "promoted"
    else:
        store.record_decision(name, {"action": "kept", "candidate": pending["version"],
                                     "champion": store.champion_version(name), "reason": decision["reason"],
                                     "run_id": context.run.run_id})
        action = "kept"
    return dg.MaterializeResult(metadata={"champion_version": store.champion_version(name) or "none",
                                          "action": action, "candidate_version": pending["version"],
                                          "reason": decision["reason"]})


@dg.asset(
    key=_key("retention_model"), group_name="application", kinds={"scikitlearn"}, owners=OWNERS,
    code_version="promotion-v1", tags=WEEKLY, deps=[_key("retention_candidate")],
    backfill_policy=dg.BackfillPolicy.single_run(),
    description="The retention champion: the candidate of this run if it passed the promotion gate, else the previous champion.",
)
def retention_model(context: dg.AssetExecutionContext, models: ModelStoreResource) -> dg.MaterializeResult:
    return _promote(context, models.store(), RETENTION)


SCORES_TABLE = "application.churn_risk_scores"
SCORES_DDL = (f"create or replace table {SCORES_TABLE} (customer_id varchar, churn_probability double, "
              "risk_decile integer, model_version varchar, scored_at timestamp, cutoff date)")


@dg.asset(
    key=_key("churn_risk_scores"), group_name="application", kinds={"scikitlearn", "duckdb"}, owners=OWNERS,
    code_version="scores-v1", pool=WAREHOUSE_POOL, deps=[_key("retention_features"), _key("retention_model")],
    backfill_policy=dg.BackfillPolicy.single_run(),
    description="Churn risk per active customer from the promoted retention model (empty until a model is promoted).",
)
def churn_risk_scores(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                      models: ModelStoreResource) -> dg.MaterializeResult:
    champion = models.store().champion(RETENTION)
    scored_at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    with warehouse.connect() as con:
        con.execute("create schema if not exists application")
        con.execute(SCORES_DDL)
        exists = con.execute("select count(*) from information_schema.tables where table_schema = 'features' "
                             "and table_name = 'retention'").fetchall()[0][0]
        if champion is None or not exists:
            context.log.warning("no promoted retention model yet: churn_risk_scores is empty until "
                                "the model_training job promotes one")
            return dg.MaterializeResult(metadata={"rows": 0, "model_version": "none"})
        frame = con.execute(f"select * from {RETENTION_TABLE} where role = 'scoring' order by customer_id").df()
        p_buy = champion.model["model"].predict_proba(frame)
        out = pd.DataFrame({"customer_id": frame["customer_id"], "churn_probability": np.round(1 - p_buy, 6),
                            "risk_decile": rt.risk_deciles(p_buy), "model_version": champion.version,
                            "scored_at": scored_at, "cutoff": pd.to_datetime(frame["cutoff"]).dt.date})
        con.register("scores_frame", out)
        con.execute(f"insert into {SCORES_TABLE} select * from scores_frame")
        con.unregister("scores_frame")
    return dg.MaterializeResult(metadata={
        "rows": len(out), "model_version": champion.version, "cutoff": str(out["cutoff"].iloc[0]) if len(out) else "",
        "mean_churn_probability": float(out["churn_probability"].mean()) if len(out) else 0.0,
        "high_risk_customers": int((out["risk_decile"] >= 9).sum())})


# ------------------------------------------------------------------------------------------ demand
class DemandTrainingConfig(dg.Config):
    horizon_days: int = Field(28, ge=1, description="Days ahead to forecast.")
    backtest_origins: int = Field(3, ge=3, description="Rolling backtest origins (the newest is the evaluation window).")
    backtest_step_days: int = Field(7, ge=1, description="Days between backtest origins.")
    origin_step_days: int = Field(7, ge=1, description="Days between the training set's forecast origins.")
    learning_rate: float = Field(0.05, gt=0, description="Gradient boosting learning rate.")
    max_iter: int = Field(200, ge=10, description="Boosting iterations.")
    max_leaf_nodes: int = Field(31, ge=2, description="Leaves per tree.")
    min_samples_leaf: int = Field(20, ge=1, description="Minimum samples per leaf.")
    random_state: int = Field(0, description="Seed: same seed, same model and metrics.")
    max_mase: float = Field(0.98, gt=0, description="The model must reach MASE (vs seasonal naive) below this.")

    def params(self) -> dm.DemandParams:
        return dm.DemandParams(self.horizon_days, self.backtest_origins, self.backtest_step_days,
                               self.origin_step_days, self.learning_rate, self.max_iter, self.max_leaf_nodes,
                               self.min_samples_leaf, self.random_state)


@dg.asset(
    key=_key("demand_panel"), group_name="application", kinds={"duckdb"}, owners=OWNERS,
    code_version="demand-panel-v1", pool=WAREHOUSE_POOL, backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[dg.AssetKey(["intermediate", "int_order_lines"]), dg.AssetKey(["staging", "stg_catalog__products"])],
    check_specs=[dg.AssetCheckSpec(FEATURE_CHECK, asset=_key("demand_panel"), blocking=True,
                                   description="Dense product x day grid, unique keys, no negative units.")],
    description="Units, price and promotion per product and day: the demand model's feature table.",
)
def demand_panel(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.connect() as con:
        build_panel_table(con)
        facts = panel_checks(con)
    problems = []
    if not facts["rows"]:
        problems.append("no rows")
    if facts["duplicate_keys"]:
        problems.append(f"{facts['duplicate_keys']} duplicate (product, day) keys")
    if facts["bad_units"]:
        problems.append(f"{facts['bad_units']} negative or null unit counts")
    if facts["rows"] and facts["rows"] != facts["products"] * facts["days"]:
        problems.append("the grid is not dense")
    metadata = {k: (str(v) if isinstance(v, dt.date) else v) for k, v in facts.items()}
    return dg.MaterializeResult(
        metadata={**metadata, "table": PANEL_TABLE},
        check_results=[dg.AssetCheckResult(check_name=FEATURE_CHECK, passed=not problems,
                                           severity=dg.AssetCheckSeverity.ERROR,
                                           description="; ".join(problems) or "panel valid")])


def _read_panel(warehouse: WarehouseResource) -> dm.Panel:
    with warehouse.connect(read_only=True) as con:
        return read_panel(con)


@dg.asset(
    key=_key("demand_candidate"), group_name="application", kinds={"scikitlearn"}, owners=OWNERS,
    code_version=dm.CODE_VERSION, tags=WEEKLY, deps=[_key("demand_panel")],
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[dg.AssetCheckSpec(PROMOTION_GATE, asset=_key("demand_candidate"), blocking=True,
                                   description="Red when the candidate does not beat seasonal naive (MASE); "
                                               "yellow when it does but not the champion.")],
    description="Demand candidate: rolling-origin backtest against seasonal naive, compared with the champion.",
)
def demand_candidate(context: dg.AssetExecutionContext, config: DemandTrainingConfig,
                     warehouse: WarehouseResource, models: ModelStoreResource) -> dg.MaterializeResult:
    store = models.store()
    panel = _read_panel(warehouse)
    params = config.params()
    try:
        result, model = dm.backtest(panel, params)
    except dm.InsufficientHistory as exc:
        raise dg.Failure(str(exc), allow_retries=False) from exc
    window_origin = len(panel.days) - 1 - params.horizon_days
    identity = {"code": dm.CODE_VERSION, "params": dm.params_dict(params), "features": model.features,
                "trained_through": model.trained_through, "origins": result.origins,
                "data": int(pd.util.hash_array(panel.units.reshape(-1)).sum())}
    stored = store.save(DEMAND, identity, model, {"metrics": result.metrics, "naive_metrics": result.naive_metrics,
                                                  "backtest": result.as_dict(), "features": model.features,
                                                  "params": dm.params_dict(params), "code_version": dm.CODE_VERSION,
                                                  "training_window": {"through": model.trained_through,
                                                                      "origins": result.origins}})
    mase = result.metrics["window_mase"]
    ok_naive = mase < config.max_mase
    naive_reason = (f"candidate {'beats' if ok_naive else 'does not beat'} seasonal naive: MASE {mase:.4f} on the "
                    f"evaluation window (required < {config.max_mase}), WAPE {result.metrics['wape']:.4f}")
    champion = store.champion(DEMAND)
    beats_champion, champion_reason, champion_mae = True, "no champion yet", None
    if champion is not None and champion.version != stored.version:
        champion_mae = dm.window_mae(champion.model, panel, window_origin)
        beats_champion = result.metrics["window_mae"] < champion_mae
        champion_reason = (f"{'beats' if beats_champion else 'does not beat'} champion {champion.version} "
                           f"(MAE {result.metrics['window_mae']:.4f} vs {champion_mae:.4f} on the same window)")
    decision = decide(stored.version, champion.version if champion else None, ok_naive, beats_champion,
                      naive_reason, champion_reason)
    # What the forecast serves: the model only while the champion (after this decision) beats naive.
    champion_after = stored.version if decision.promote else (champion.version if champion else None)
    if champion_after and champion_after != stored.version:
        champion_mase = champion_mae / result.naive_metrics["mae"] if result.naive_metrics["mae"] else float("inf")
    else:
        champion_mase = mase if champion_after else float("inf")
    serve = "model" if champion_after and champion_mase < config.max_mase else "seasonal_naive"
    window = result.predictions[result.predictions["origin"] == window_origin]
    residuals = (window["actual"] - window["naive"]).to_numpy()
    store.write_record(DEMAND, "pending", {"run_id": context.run.run_id, "version": stored.version,
                                           "decision": decision.as_dict(), "metrics": result.metrics})
    # Recorded before the gate: if the gate blocks this run, the next forecast already falls back.
    store.write_record(DEMAND, "serving", {"serve": serve, "champion": champion_after, "champion_mase": champion_mase,
                                           "run_id": context.run.run_id, "naive_residuals": residuals.round(4).tolist()})
    totals = window.groupby("target_date")[["actual", "p50", "expected", "naive", "p10", "p90"]].sum()
    totals.index = pd.to_datetime(totals.index)
    chart = forecast_chart(totals["actual"], {"model expected": totals["expected"], "model p50": totals["p50"],
                                              "seasonal naive": totals["naive"]},
                           totals["p10"], totals["p90"], "backtest: total units, newest origin")
    severity = dg.AssetCheckSeverity.ERROR if not ok_naive else dg.AssetCheckSeverity.WARN
    return dg.MaterializeResult(
        metadata={"model_version": stored.version, "wape": result.metrics["wape"], "mase": result.metrics["mase"],
                  "window_mase": mase, "coverage_80": result.metrics["coverage_80"],
                  "window_total_error": result.metrics["window_total_error"],
                  "naive_wape": result.naive_metrics["wape"], "interval_offset": result.interval_offset,
                  "origins": dg.MetadataValue.json(result.origins),
                  "per_origin": dg.MetadataValue.md(_md_table(result.per_origin)),
                  "charts": dg.MetadataValue.md(markdown_image(chart, "forecast vs actual")),
                  "decision": decision.reason, "serves": serve},
        check_results=[dg.AssetCheckResult(
            check_name=PROMOTION_GATE,
            passed=decision.promote or (decision.beats_baseline and _is_champion(champion, stored.version)),
            severity=severity, description=decision.reason,
            metadata={"promote": decision.promote, "beats_naive": ok_naive, "beats_champion": beats_champion})],
    )


@dg.asset(
    key=_key("demand_model"), group_name="application", kinds={"scikitlearn"}, owners=OWNERS,
    code_version="promotion-v1", tags=WEEKLY, deps=[_key("demand_candidate")],
    backfill_policy=dg.BackfillPolicy.single_run(),
    description="The demand champion and whether the forecast serves it or seasonal naive.",
)
def demand_model(context: dg.AssetExecutionContext, models: ModelStoreResource) -> dg.MaterializeResult:
    store = models.store()
    result = _promote(context, store, DEMAND)
    return dg.MaterializeResult(metadata={**result.metadata, "serves": store.read_record(DEMAND, "serving")["serve"]})


FORECAST_TABLE = "application.demand_forecast"
FORECAST_DDL = (f"create or replace table {FORECAST_TABLE} (product_id varchar, forecast_date date, p10 double, "
                "p50 double, p90 double, model_version varchar, method varchar, generated_at timestamp, "
                "expected_units double)")


@dg.asset(
    key=_key("demand_forecast"), group_name="application", kinds={"scikitlearn", "duckdb"}, owners=OWNERS,
    code_version="forecast-v1", pool=WAREHOUSE_POOL, deps=[_key("demand_panel"), _key("demand_model")],
    backfill_policy=dg.BackfillPolicy.single_run(),
    description="Daily units per product for the coming days: the champion, or seasonal naive where it does not beat it.",
)
def demand_forecast(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                    models: ModelStoreResource) -> dg.MaterializeResult:
    store = models.store()
    champion = store.champion(DEMAND)
    serving = store.read_record(DEMAND, "serving")
    use_model = champion is not None and serving.get("serve") == "model" and serving.get("champion") == champion.version
    generated_at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    with warehouse.connect() as con:
        con.execute("create schema if not exists application")
        con.execute(FORECAST_DDL)
        horizon = champion.model.horizon if champion else DemandTrainingConfig().horizon_days
        residuals = np.array(serving.get("naive_residuals", []))
        try:
            panel = read_panel(con)
            frame = dm.forecast(champion.model if use_model else None, panel, horizon, residuals)
        except dm.InsufficientHistory as exc:
            context.log.warning(f"no demand forecast yet: {exc}")
            return dg.MaterializeResult(metadata={"rows": 0, "method": "none", "reason": str(exc)})
        frame["model_version"] = champion.version if use_model else "seasonal_naive"
        frame["method"] = "model" if use_model else "seasonal_naive"
        frame["generated_at"] = generated_at
        con.register("forecast_frame", frame)
        con.execute(f"insert into {FORECAST_TABLE} select product_id, forecast_date, p10, p50, p90, model_version, "
                    "method, generated_at, expected_units from forecast_frame")
        con.unregister("forecast_frame")
    if not use_model:
        context.log.warning("serving the seasonal-naive forecast: no promoted demand model beats it")
    return dg.MaterializeResult(metadata={
        "rows": len(frame), "method": frame["method"].iloc[0], "model_version": frame["model_version"].iloc[0],
        "products": int(frame["product_id"].nunique()), "first_day": str(frame["forecast_date"].min()),
        "last_day": str(frame["forecast_date"].max()), "total_p50": float(frame["p50"].sum()),
        "total_expected_units": float(frame["expected_units"].sum())})


# ------------------------------------------------------------------------------------- definitions
ASSETS = [retention_features, retention_candidate, retention_model, churn_risk_scores,
          demand_panel, demand_candidate, demand_model, demand_forecast]


def build_defs(settings: Settings) -> dg.Definitions:
    training = (dg.AssetSelection.assets(retention_features, demand_panel)
                | dg.AssetSelection.tag("dmp/cadence", "weekly"))
    job = dg.define_asset_job(
        MODEL_JOB, selection=training | training.downstream(),
        description="Retrain the retention and demand models (weekly), promote through the gate, re-score, "
                    "and refresh everything that shows the scores.")
    schedule = dg.ScheduleDefinition(
        name="weekly_model_training", job=job, cron_schedule=settings.retrain_cron, run_config=settings.run_config(),
        execution_timezone=settings.schedule_timezone, default_status=dg.DefaultScheduleStatus.STOPPED,
        description="Retrains the models every week (DMP_RETRAIN_CRON, in DMP_SCHEDULE_TIMEZONE).")
    return dg.Definitions(assets=ASSETS, jobs=[job], schedules=[schedule],
                          resources={"models": ModelStoreResource(root=str(settings.model_dir))})
