"""The A/B test asset: every experiment's variants, lifts, tests and decision, in the warehouse."""

import datetime as dt

import dagster as dg
import pandas as pd
import pydantic

from core.application.ab_testing import RESULT_COLUMNS, RESULTS_TABLE, AbConfig, markdown_table, run_analysis
from orchestration.metadata import column_schema
from orchestration.names import WAREHOUSE_POOL
from orchestration.resources import WarehouseResource

AB_RESULTS_KEY = dg.AssetKey(["application", "ab_test_results"])


class AbTestConfig(dg.Config):
    """How the experiments are judged."""

    conversion_window_hours: float = pydantic.Field(
        default=24.0,
        gt=0,
        description="A purchase counts as a conversion when it is placed within this many hours "
        "after the customer's assignment.",
    )
    alpha: float = pydantic.Field(default=0.05, gt=0, lt=1, description="Significance level (two-sided).")
    srm_alpha: float = pydantic.Field(
        default=0.001, gt=0, lt=1, description="A sample-ratio-mismatch p-value below this invalidates a test."
    )
    min_users: int = pydantic.Field(default=100, ge=2, description="Users each variant needs before a decision.")
    min_conversions: int = pydantic.Field(default=10, ge=0, description="Conversions each variant needs.")
    planned_splits: dict[str, dict[str, float]] = pydantic.Field(
        default_factory=dict, description="experiment_id -> {variant: weight}; unlisted experiments are 50/50."
    )

    def ab_config(self) -> AbConfig:
        return AbConfig(
            window=dt.timedelta(hours=self.conversion_window_hours),
            alpha=self.alpha,
            srm_alpha=self.srm_alpha,
            min_users=self.min_users,
            min_conversions=self.min_conversions,
            planned_splits=self.planned_splits,
        )


@dg.asset(
    key=AB_RESULTS_KEY,
    group_name="application",
    deps=[dg.AssetKey(["staging", "stg_experiments__assignments"]), dg.AssetKey(["intermediate", "int_order_lines"])],
    kinds={"python", "duckdb"},
    owners=["team:growth-analytics"],
    code_version="ab-test-results-v1",
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=WAREHOUSE_POOL,
    description="A/B test results: conversion and revenue per user by variant, lifts with 95% CIs, SRM and decision.",
)
def ab_test_results(
    context: dg.AssetExecutionContext, config: AbTestConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    with warehouse.connect() as con:
        results = run_analysis(con, config.ab_config())
    metadata: dict = {
        "dagster/row_count": len(results),
        "dagster/table_name": f"warehouse.{RESULTS_TABLE}",
        "dagster/column_schema": column_schema(RESULT_COLUMNS.items()),
        "experiments": int(results["experiment_id"].nunique()),
        "results": dg.MetadataValue.md(markdown_table(results) if len(results) else "no experiments assigned yet"),
    }
    for row in results[~results["is_control"]].itertuples():
        prefix = row.experiment_id if row.variant == "treatment" else f"{row.experiment_id}/{row.variant}"
        metadata[f"{prefix}/relative_lift"] = _number(row.rel_lift)
        metadata[f"{prefix}/p_value"] = _number(row.p_value_conversion)
        metadata[f"{prefix}/decision"] = row.decision
    context.log.info(f"{len(results)} result rows for {metadata['experiments']} experiment(s)")
    return dg.MaterializeResult(metadata=metadata)


def _number(value) -> dg.MetadataValue:
    return dg.MetadataValue.float(float(value)) if pd.notna(value) else dg.MetadataValue.null()
