"""The demand model as assets: the product x day panel behind a blocking check, a candidate with a
rolling-origin backtest against seasonal naive and the champion, the champion promoted through the
gate (with the choice of what the forecast serves), and the forecast.

    demand_panel --(checks)--> demand_candidate --(promotion_gate)--> demand_model --> demand_forecast
"""

import datetime as dt

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from ml import demand as dm
from ml.evaluation import decide, forecast_chart, markdown_image
from ml.panel import PANEL_TABLE, build_panel_table, panel_checks, read_panel
from ml.promotion import demand_serving, panel_problems, versus_champion_mae
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

DEMAND = "demand"


class DemandTrainingConfig(dg.Config):
    horizon_days: int = Field(28, ge=1, description="Days ahead to forecast.")
    backtest_origins: int = Field(
        3, ge=3, description="Rolling backtest origins (the newest is the evaluation window)."
    )
    backtest_step_days: int = Field(7, ge=1, description="Days between backtest origins.")
    origin_step_days: int = Field(7, ge=1, description="Days between the training set's forecast origins.")
    learning_rate: float = Field(0.05, gt=0, description="Gradient boosting learning rate.")
    max_iter: int = Field(200, ge=10, description="Boosting iterations.")
    max_leaf_nodes: int = Field(31, ge=2, description="Leaves per tree.")
    min_samples_leaf: int = Field(20, ge=1, description="Minimum samples per leaf.")
    random_state: int = Field(0, description="Seed: same seed, same model and metrics.")
    max_training_rows: int = Field(
        150_000, ge=1000, description="A larger training set is sampled down to this many rows, evenly over origins."
    )
    max_mase: float = Field(0.98, gt=0, description="The model must reach MASE (vs seasonal naive) below this.")

    def params(self) -> dm.DemandParams:
        return dm.DemandParams(
            horizon_days=self.horizon_days,
            backtest_origins=self.backtest_origins,
            backtest_step_days=self.backtest_step_days,
            origin_step_days=self.origin_step_days,
            learning_rate=self.learning_rate,
            max_iter=self.max_iter,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            random_state=self.random_state,
            max_training_rows=self.max_training_rows,
        )


@dg.asset(
    key=key("demand_panel"),
    group_name="application",
    kinds={"duckdb"},
    owners=OWNERS,
    code_version="demand-panel-v1",
    pool=WAREHOUSE_POOL,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[dg.AssetKey(["intermediate", "int_order_lines"]), dg.AssetKey(["staging", "stg_catalog__products"])],
    check_specs=[
        dg.AssetCheckSpec(
            FEATURE_CHECK,
            asset=key("demand_panel"),
            blocking=True,
            description="Dense product x day grid, unique keys, no negative units.",
        )
    ],
    description="Units, price and promotion per product and day: the demand model's feature table.",
)
def demand_panel(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.connect() as con:
        build_panel_table(con)
        facts = panel_checks(con)
    problems = panel_problems(facts)
    metadata = {k: (str(v) if isinstance(v, dt.date) else v) for k, v in facts.items()}
    return dg.MaterializeResult(
        metadata={**metadata, "table": PANEL_TABLE},
        check_results=[
            dg.AssetCheckResult(
                check_name=FEATURE_CHECK,
                passed=not problems,
                severity=dg.AssetCheckSeverity.ERROR,
                description="; ".join(problems) or "panel valid",
            )
        ],
    )


def _read_panel(warehouse: WarehouseResource) -> dm.Panel:
    with warehouse.connect(read_only=True) as con:
        return read_panel(con)


@dg.asset(
    key=key("demand_candidate"),
    group_name="application",
    kinds={"scikitlearn"},
    owners=OWNERS,
    code_version=dm.CODE_VERSION,
    tags=WEEKLY,
    deps=[key("demand_panel")],
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[
        dg.AssetCheckSpec(
            PROMOTION_GATE,
            asset=key("demand_candidate"),
            blocking=True,
            description="Red when the candidate does not beat seasonal naive (MASE); "
            "yellow when it does but not the champion.",
        )
    ],
    description="Demand candidate: rolling-origin backtest against seasonal naive, compared with the champion.",
)
def demand_candidate(
    context: dg.AssetExecutionContext,
    config: DemandTrainingConfig,
    warehouse: WarehouseResource,
    models: ModelStoreResource,
    serving: ServingResource,
) -> dg.MaterializeResult:
    store = models.store()
    panel = _read_panel(warehouse)
    params = config.params()
    try:
        result, model = dm.backtest(panel, params)
    except dm.InsufficientHistory as exc:
        raise dg.Failure(str(exc), allow_retries=False) from exc
    window_origin = len(panel.days) - 1 - params.horizon_days
    identity = {
        "code": dm.CODE_VERSION,
        "params": dm.params_dict(params),
        "features": model.features,
        "trained_through": model.trained_through,
        "origins": result.origins,
        "data": int(pd.util.hash_array(panel.units.reshape(-1)).sum()),
    }
    stored = store.save(
        DEMAND,
        identity,
        model,
        {
            "metrics": result.metrics,
            "naive_metrics": result.naive_metrics,
            "backtest": result.as_dict(),
            "features": model.features,
            "params": dm.params_dict(params),
            "code_version": dm.CODE_VERSION,
            "training_window": {"through": model.trained_through, "origins": result.origins},
        },
    )
    mase = result.metrics["window_mase"]
    ok_naive = mase < config.max_mase
    naive_reason = (
        f"candidate {'beats' if ok_naive else 'does not beat'} seasonal naive: MASE {mase:.4f} on the "
        f"evaluation window (required < {config.max_mase}), WAPE {result.metrics['wape']:.4f}"
    )
    champion = store.champion(DEMAND)
    beats_champion, champion_reason, champion_mae = True, "no champion yet", None
    if champion is not None and champion.version != stored.version:
        champion_mae = dm.window_mae(champion.model, panel, window_origin)
        beats_champion, champion_reason = versus_champion_mae(
            result.metrics["window_mae"], champion.version, champion_mae
        )
    decision = decide(
        stored.version, champion.version if champion else None, ok_naive, beats_champion, naive_reason, champion_reason
    )
    serve, champion_after, champion_mase = demand_serving(
        decision,
        stored.version,
        champion.version if champion else None,
        mase,
        champion_mae,
        result.naive_metrics["mae"],
        config.max_mase,
    )
    window = result.predictions[result.predictions["origin"] == window_origin]
    residuals = (window["actual"] - window["naive"]).to_numpy()
    # Recorded before the gate: if the gate blocks this run, the next forecast already falls back.
    store.write_record(
        DEMAND,
        "serving",
        {
            "serve": serve,
            "champion": champion_after,
            "champion_mase": champion_mase,
            "run_id": context.run.run_id,
            "naive_residuals": residuals.round(4).tolist(),
        },
    )
    totals = window.groupby("target_date")[["actual", "p50", "expected", "naive", "p10", "p90"]].sum()
    totals.index = pd.to_datetime(totals.index)
    chart = forecast_chart(
        totals["actual"],
        {"model expected": totals["expected"], "model p50": totals["p50"], "seasonal naive": totals["naive"]},
        totals["p10"],
        totals["p90"],
        "backtest: total units, newest origin",
    )
    chart_file, chart_url = serving.publish_chart(DEMAND, stored.version, "backtest", chart)
    severity = dg.AssetCheckSeverity.ERROR if not ok_naive else dg.AssetCheckSeverity.WARN
    return dg.MaterializeResult(
        metadata={
            "model_version": stored.version,
            "wape": result.metrics["wape"],
            "mase": result.metrics["mase"],
            "window_mase": mase,
            "coverage_80": result.metrics["coverage_80"],
            "window_total_error": result.metrics["window_total_error"],
            "naive_wape": result.naive_metrics["wape"],
            "interval_offset": result.interval_offset,
            "origins": dg.MetadataValue.json(result.origins),
            "per_origin": dg.MetadataValue.md(md_table(result.per_origin)),
            "charts": dg.MetadataValue.md(markdown_image(chart_url, "forecast vs actual")),
            "chart_file": dg.MetadataValue.path(str(chart_file)),
            "decision": decision.reason,
            "serves": serve,
            HANDOFF: handoff(stored.version, decision.as_dict(), result.metrics),
        },
        check_results=[
            gate_result(
                decision,
                champion.version if champion else None,
                stored.version,
                severity,
                beats_naive=ok_naive,
                beats_champion=beats_champion,
            )
        ],
    )


@dg.asset(
    key=key("demand_model"),
    group_name="application",
    kinds={"scikitlearn"},
    owners=OWNERS,
    code_version="promotion-v1",
    tags=WEEKLY,
    deps=[key("demand_candidate")],
    backfill_policy=dg.BackfillPolicy.single_run(),
    description="The demand champion and whether the forecast serves it or seasonal naive.",
)
def demand_model(context: dg.AssetExecutionContext, models: ModelStoreResource) -> dg.MaterializeResult:
    store = models.store()
    result = promote(context, store, DEMAND)
    return dg.MaterializeResult(metadata={**result.metadata, "serves": store.read_record(DEMAND, "serving")["serve"]})


FORECAST_TABLE = "application.demand_forecast"
FORECAST_DDL = (
    f"create or replace table {FORECAST_TABLE} (product_id varchar, forecast_date date, p10 double, "
    "p50 double, p90 double, model_version varchar, method varchar, generated_at timestamp, "
    "expected_units double)"
)


@dg.asset(
    key=key("demand_forecast"),
    group_name="application",
    kinds={"scikitlearn", "duckdb"},
    owners=OWNERS,
    code_version="forecast-v1",
    pool=WAREHOUSE_POOL,
    deps=[key("demand_panel"), key("demand_model")],
    backfill_policy=dg.BackfillPolicy.single_run(),
    description="Daily units per product for the coming days: the champion, or seasonal naive where it does not beat it.",
)
def demand_forecast(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, models: ModelStoreResource
) -> dg.MaterializeResult:
    store = models.store()
    champion = store.champion(DEMAND)
    serving = store.read_record(DEMAND, "serving")
    use_model = champion is not None and serving.get("serve") == "model" and serving.get("champion") == champion.version
    generated_at = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
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
        con.execute(
            f"insert into {FORECAST_TABLE} select product_id, forecast_date, p10, p50, p90, model_version, "
            "method, generated_at, expected_units from forecast_frame"
        )
        con.unregister("forecast_frame")
    if not use_model:
        context.log.warning("serving the seasonal-naive forecast: no promoted demand model beats it")
    return dg.MaterializeResult(
        metadata={
            "rows": len(frame),
            "method": frame["method"].iloc[0],
            "model_version": frame["model_version"].iloc[0],
            "products": int(frame["product_id"].nunique()),
            "first_day": str(frame["forecast_date"].min()),
            "last_day": str(frame["forecast_date"].max()),
            "total_p50": float(frame["p50"].sum()),
            "total_expected_units": float(frame["expected_units"].sum()),
        }
    )


ASSETS = [demand_panel, demand_candidate, demand_model, demand_forecast]
