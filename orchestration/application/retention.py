"""The retention model as assets: point-in-time features behind a blocking check, a candidate
evaluated against the strongest simple baseline and the champion, the champion promoted through
the gate, and the champion's churn scores.

    retention_features --(checks)--> retention_candidate --(promotion_gate)--> retention_model
            \\                                                                         |
             `-------------------------------------------------------------> churn_risk_scores

The candidate and champion carry the weekly cadence tag: the daily job scores with the current
champion and the `model_training` job retrains.
"""

import datetime as dt

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field
from sklearn.metrics import roc_auc_score

from ml import retention as rt
from ml.evaluation import decide, markdown_image, roc_and_calibration_chart
from ml.promotion import retention_feature_problems, versus_champion_auc
from ml.retention_features import (
    FEATURES,
    SOURCES,
    CutoffPlan,
    InsufficientHistory,
    build_features,
    order_history_span,
    plan_cutoffs,
)
from orchestration.application.promotion import (
    FEATURE_CHECK,
    HANDOFF,
    OWNERS,
    PROMOTION_GATE,
    gate_result,
    handoff,
    key,
    promote,
)
from orchestration.metadata import md_table
from orchestration.names import WAREHOUSE_POOL, WEEKLY
from orchestration.resources import ModelStoreResource, ServingResource, WarehouseResource

RETENTION = "retention"
RETENTION_TABLE = "features.retention"


class RetentionFeaturesConfig(dg.Config):
    horizon_days: int = Field(60, ge=7, description="Label: buys again within this many days of the cutoff.")
    active_days: int = Field(
        90, ge=7, description="Population: customers with a purchase in these days before the cutoff."
    )
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
    key=key("retention_features"),
    group_name="application",
    kinds={"python", "duckdb"},
    owners=OWNERS,
    code_version="retention-features-v1",
    pool=WAREHOUSE_POOL,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[dg.AssetKey(table.split(".")) for table in SOURCES],
    check_specs=[
        dg.AssetCheckSpec(
            FEATURE_CHECK,
            asset=key("retention_features"),
            blocking=True,
            description="Training, evaluation and scoring rows present, unique, both "
            "label classes, no impossible values.",
        )
    ],
    description="Point-in-time retention features and labels at the training, evaluation and scoring cutoffs.",
)
def retention_features(
    context: dg.AssetExecutionContext, config: RetentionFeaturesConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    with warehouse.connect() as con:
        span = order_history_span(con)
        if span is None:
            raise dg.Failure(
                "intermediate.int_order_lines has no sales: nothing to build retention features from",
                allow_retries=False,
            )
        try:
            plan = plan_cutoffs(
                span[0],
                span[1],
                config.horizon_days,
                config.training_cutoffs,
                config.cutoff_step_days,
                config.min_history_days,
            )
            too_short = None
        except InsufficientHistory as exc:
            # Scoring rows only: the daily run goes on; training waits for enough history.
            scoring = span[1] + dt.timedelta(days=1)
            plan, too_short = CutoffPlan((), scoring, scoring), str(exc)
        frame = build_features(con, plan.all(), config.horizon_days, config.active_days)
        roles = dict.fromkeys(plan.training, "training") | ({plan.evaluation: "evaluation"} if not too_short else {})
        roles[plan.scoring] = "scoring"
        frame.insert(1, "role", frame["cutoff"].map(roles))
        frame["horizon_days"] = config.horizon_days
        con.execute("create schema if not exists features")
        con.register("retention_frame", frame)
        con.execute(f"create or replace table {RETENTION_TABLE} as select * from retention_frame")
        con.unregister("retention_frame")
    counts = frame.groupby("role").size().to_dict()
    problems = retention_feature_problems(frame, () if too_short else ("training", "evaluation"))
    labelled = frame[frame["role"].isin(["training", "evaluation"])]
    rates = labelled.groupby("role")["label"].apply(lambda s: float(s.astype(float).mean())).to_dict()
    return dg.MaterializeResult(
        metadata={
            "rows": len(frame),
            "rows_by_role": dg.MetadataValue.json(counts),
            "positive_rate_by_role": dg.MetadataValue.json(rates),
            "cutoffs": dg.MetadataValue.json(
                {
                    "training": [str(c) for c in plan.training],
                    "evaluation": str(plan.evaluation),
                    "scoring": str(plan.scoring),
                }
            ),
            "features": dg.MetadataValue.json(FEATURES),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=FEATURE_CHECK,
                passed=not problems and not too_short,
                severity=dg.AssetCheckSeverity.ERROR if problems else dg.AssetCheckSeverity.WARN,
                description="; ".join(problems) or too_short or "feature table valid",
                metadata={"rows_by_role": dg.MetadataValue.json(counts)},
            )
        ],
    )


def _read_retention(warehouse: WarehouseResource) -> pd.DataFrame:
    with warehouse.connect(read_only=True) as con:
        frame = con.execute(f"select * from {RETENTION_TABLE} order by cutoff, customer_id").df()
    frame["cutoff"] = pd.to_datetime(frame["cutoff"]).dt.date
    return frame


@dg.asset(
    key=key("retention_candidate"),
    group_name="application",
    kinds={"scikitlearn"},
    owners=OWNERS,
    code_version=rt.CODE_VERSION,
    tags=WEEKLY,
    deps=[key("retention_features")],
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[
        dg.AssetCheckSpec(
            PROMOTION_GATE,
            asset=key("retention_candidate"),
            blocking=True,
            description="Red when the candidate does not beat the strongest simple baseline "
            "(recency, frequency, recency/frequency buckets, RFM logistic); yellow when it does but not "
            "the champion.",
        )
    ],
    description="Retention candidate: trained on past cutoffs, evaluated with the baseline and the champion on a later cutoff.",
)
def retention_candidate(
    context: dg.AssetExecutionContext,
    config: RetentionTrainingConfig,
    warehouse: WarehouseResource,
    models: ModelStoreResource,
    serving: ServingResource,
) -> dg.MaterializeResult:
    store = models.store()
    frame = _read_retention(warehouse)
    train, evaluation = frame[frame["role"] == "training"], frame[frame["role"] == "evaluation"]
    labelled = evaluation[evaluation["label"].notna()]
    if train.empty or evaluation.empty:
        raise dg.Failure(
            "features.retention has no training or evaluation rows: the order history is too short "
            "for the configured horizon (see the retention_features check)",
            allow_retries=False,
        )
    params = rt.RetentionParams(
        config.learning_rate,
        config.max_iter,
        config.max_leaf_nodes,
        config.min_samples_leaf,
        config.l2_regularization,
        config.random_state,
    )
    model = rt.fit(train, params)
    baselines = rt.Baselines().fit(train)
    result, p_model, scores = rt.evaluate(model, baselines, evaluation, seed=config.random_state)
    window = {
        "training_cutoffs": sorted(str(c) for c in train["cutoff"].unique()),
        "evaluation_cutoff": str(evaluation["cutoff"].iloc[0]),
        "horizon_days": int(frame["horizon_days"].iloc[0]),
        "rows": int(len(train)),
    }
    identity = {
        "code": rt.CODE_VERSION,
        "params": params.__dict__,
        "features": model.features,
        "window": window,
        "data": int(pd.util.hash_pandas_object(train[FEATURES + ["label"]], index=False).sum()),
    }
    stored = store.save(
        RETENTION,
        identity,
        {"model": model, "baselines": baselines},
        {
            "metrics": result.as_dict(),
            "training_window": window,
            "features": model.features,
            "params": params.__dict__,
            "code_version": rt.CODE_VERSION,
        },
    )
    ok_base, base_reason = rt.beats_baseline(result, config.min_auc_gain)
    champion = store.champion(RETENTION)
    champion_auc, champion_reason, beats_champion = None, "no champion yet", True
    if champion is not None and champion.version != stored.version:
        champion_auc = float(
            roc_auc_score(labelled["label"].astype(int), champion.model["model"].predict_proba(labelled))
        )
        beats_champion, champion_reason = versus_champion_auc(result.model["roc_auc"], champion.version, champion_auc)
    decision = decide(
        stored.version, champion.version if champion else None, ok_base, beats_champion, base_reason, champion_reason
    )
    chart = roc_and_calibration_chart(
        labelled["label"].astype(int).to_numpy(),
        {"model": p_model, "rf_bucket": scores["rf_bucket"], "rfm_logistic": scores["rfm_logistic"]},
        {"recency": scores["recency"], "frequency": scores["frequency"]},
    )
    chart_file, chart_url = serving.publish_chart(RETENTION, stored.version, "roc_calibration", chart)
    severity = dg.AssetCheckSeverity.ERROR if not ok_base else dg.AssetCheckSeverity.WARN
    return dg.MaterializeResult(
        metadata={
            "model_version": stored.version,
            "roc_auc": result.model["roc_auc"],
            "pr_auc": result.model["pr_auc"],
            "brier": result.model["brier"],
            "top_decile_lift": result.model["top_decile_lift"],
            "baseline": result.baseline_name,
            "baseline_roc_auc": result.baseline["roc_auc"],
            **{f"baseline_roc_auc/{name}": auc for name, auc in result.baseline_aucs.items()},
            "baseline_pr_auc": result.baseline["pr_auc"],
            "baseline_brier": result.baseline["brier"],
            "baseline_top_decile_lift": result.baseline["top_decile_lift"],
            "auc_gain": result.auc_gain,
            "evaluation_customers": result.model["n"],
            "training_window": dg.MetadataValue.json(window),
            "calibration": dg.MetadataValue.md(md_table(result.calibration_model)),
            "charts": dg.MetadataValue.md(markdown_image(chart_url, "ROC and calibration")),
            "chart_file": dg.MetadataValue.path(str(chart_file)),
            "decision": decision.reason,
            "champion_roc_auc_same_cutoff": dg.MetadataValue.float(champion_auc)
            if champion_auc is not None
            else dg.MetadataValue.null(),
            HANDOFF: handoff(stored.version, decision.as_dict(), result.model),
        },
        check_results=[
            gate_result(
                decision,
                champion.version if champion else None,
                stored.version,
                severity,
                beats_baseline=ok_base,
                beats_champion=beats_champion,
            )
        ],
    )


@dg.asset(
    key=key("retention_model"),
    group_name="application",
    kinds={"scikitlearn"},
    owners=OWNERS,
    code_version="promotion-v1",
    tags=WEEKLY,
    deps=[key("retention_candidate")],
    backfill_policy=dg.BackfillPolicy.single_run(),
    description="The retention champion: the candidate of this run if it passed the promotion gate, else the previous champion.",
)
def retention_model(context: dg.AssetExecutionContext, models: ModelStoreResource) -> dg.MaterializeResult:
    return promote(context, models.store(), RETENTION)


SCORES_TABLE = "application.churn_risk_scores"
SCORES_DDL = (
    f"create or replace table {SCORES_TABLE} (customer_id varchar, churn_probability double, "
    "risk_decile integer, model_version varchar, scored_at timestamp, cutoff date)"
)


@dg.asset(
    key=key("churn_risk_scores"),
    group_name="application",
    kinds={"scikitlearn", "duckdb"},
    owners=OWNERS,
    code_version="scores-v1",
    pool=WAREHOUSE_POOL,
    deps=[key("retention_features"), key("retention_model")],
    backfill_policy=dg.BackfillPolicy.single_run(),
    description="Churn risk per active customer from the promoted retention model (empty until a model is promoted).",
)
def churn_risk_scores(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, models: ModelStoreResource
) -> dg.MaterializeResult:
    champion = models.store().champion(RETENTION)
    scored_at = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    with warehouse.connect() as con:
        con.execute("create schema if not exists application")
        con.execute(SCORES_DDL)
        exists = con.execute(
            "select count(*) from information_schema.tables where table_schema = 'features' "
            "and table_name = 'retention'"
        ).fetchall()[0][0]
        if champion is None or not exists:
            context.log.warning(
                "no promoted retention model yet: churn_risk_scores is empty until the model_training job promotes one"
            )
            return dg.MaterializeResult(metadata={"rows": 0, "model_version": "none"})
        frame = con.execute(f"select * from {RETENTION_TABLE} where role = 'scoring' order by customer_id").df()
        p_buy = champion.model["model"].predict_proba(frame)
        out = pd.DataFrame(
            {
                "customer_id": frame["customer_id"],
                "churn_probability": np.round(1 - p_buy, 6),
                "risk_decile": rt.risk_deciles(p_buy),
                "model_version": champion.version,
                "scored_at": scored_at,
                "cutoff": pd.to_datetime(frame["cutoff"]).dt.date,
            }
        )
        con.register("scores_frame", out)
        con.execute(f"insert into {SCORES_TABLE} select * from scores_frame")
        con.unregister("scores_frame")
    return dg.MaterializeResult(
        metadata={
            "rows": len(out),
            "model_version": champion.version,
            "cutoff": str(out["cutoff"].iloc[0]) if len(out) else "",
            "mean_churn_probability": float(out["churn_probability"].mean()) if len(out) else 0.0,
            "high_risk_customers": int((out["risk_decile"] >= 9).sum()),
        }
    )


ASSETS = [retention_features, retention_candidate, retention_model, churn_risk_scores]
