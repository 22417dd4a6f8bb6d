"""What every endpoint answers, as pydantic models: the OpenAPI document is generated from these.

The routers build their JSON directly from DuckDB rows (already JSON types; FastAPI's generic
encoder is slow on a thousand rows), so these models describe the responses rather than re-validate
them. They are kept true by tests: each row model's fields are exactly its snapshot table's
columns (tests/test_api_contract.py), and a property-based fuzzer checks every response against them
(the same file). Money columns (DECIMAL(18,2) in the warehouse) are JSON numbers with two
decimals; timestamps are ISO-8601 in UTC without an offset; days are YYYY-MM-DD.
"""

from __future__ import annotations

import datetime as dt
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

Row = TypeVar("Row", bound=BaseModel)

Money = float | None
Rate = float | None
Count = int | None


class _Row(BaseModel):
    model_config = ConfigDict(extra="allow")  # a newer snapshot may carry more columns than this API knows


# --- errors -----------------------------------------------------------------------------------------


class ErrorBody(BaseModel):
    """Every error but a parameter error: what was wrong and, where it applies, what to do."""

    detail: str = Field(examples=["this API key does not have the 'kpis' scope"])


class ParameterError(BaseModel):
    parameter: str | None = Field(description="The parameter's name.")
    in_: str | None = Field(alias="in", description="Where it was sent: query or path.")
    message: str


class ValidationErrorBody(BaseModel):
    """422: one entry per invalid parameter; `detail` joins them in one sentence."""

    detail: str = Field(examples=["invalid parameter 'start': expected an ISO-8601 value like 2026-03-31"])
    errors: list[ParameterError]


AUTH_ERRORS: dict[int | str, dict] = {
    401: {
        "model": ErrorBody,
        "description": "No API key, or an unknown one (the `WWW-Authenticate` header names the scheme).",
    },
    403: {"model": ErrorBody, "description": "The key is valid but lacks this endpoint's scope."},
}
DATA_ERRORS: dict[int | str, dict] = {
    **AUTH_ERRORS,
    422: {"model": ValidationErrorBody, "description": "A parameter is invalid; each one is named."},
    503: {"model": ErrorBody, "description": "No snapshot is published yet, or it lacks what this endpoint reads."},
}
NOT_PRODUCED: dict[int | str, dict] = {
    404: {"model": ErrorBody, "description": "The model output is not in the snapshot yet (the message names it)."}
}


# --- pages ------------------------------------------------------------------------------------------


class Page(BaseModel, Generic[Row]):
    """One page of rows in a stable order; follow `next_offset` until it is null."""

    items: list[Row]
    count: int = Field(description="Rows on this page.")
    total: int = Field(description="Rows matching the filters, on all pages.")
    limit: int
    offset: int
    next_offset: int | None = Field(description="The offset of the next page; null on the last page.")
    published_at: dt.datetime | None = Field(description="When the snapshot answering this was published (UTC).")


# --- marts ------------------------------------------------------------------------------------------


class KpiDay(_Row):
    """marts.kpi_daily: one row per day."""

    kpi_date: dt.date
    gross_revenue: Money
    discounts: Money
    sales_amount: Money
    returns_amount: Money
    net_revenue: Money = Field(description="Sales minus returns, in the business's currency.")
    orders: Count
    guest_orders: Count
    buyers: Count
    aov: Money = Field(description="Average order value.")
    new_customers: Count
    returning_buyers: Count
    repurchase_rate: Rate
    units_sold: Count
    units_returned: Count
    return_rate: Rate
    active_users: Count
    sessions: Count
    purchase_sessions: Count
    conversion_rate: Rate


class KpiMonth(_Row):
    """marts.kpi_monthly: one row per month and KPI, against its target."""

    kpi_month: dt.date
    kpi: str
    value: float | None
    target: float | None
    direction: str | None = Field(description="higher_is_better or lower_is_better.")
    gap: float | None
    meets_target: bool | None
    months_missed_in_a_row: Count


class KpiChannelDay(_Row):
    """marts.kpi_channel_daily: one row per day and marketing channel."""

    kpi_date: dt.date
    channel: str
    spend: Money
    impressions: Count
    clicks: Count
    ctr: Rate
    new_customers: Count
    cac: Money = Field(description="Customer acquisition cost: spend per new customer.")
    revenue_first_touch: Money
    revenue_last_touch: Money
    revenue_linear: Money
    margin_last_touch: Money
    roas: Rate
    roas_first_touch: Rate
    roas_linear: Rate
    marketing_roi: Rate


class RetentionCohort(_Row):
    """marts.kpi_retention_cohorts: one row per cohort grain, cohort start and period since."""

    cohort_grain: Literal["month", "week"]
    cohort_start: dt.date
    periods_since: int
    cohort_size: Count
    active_customers: Count
    retention_rate: Rate


class SegmentSize(_Row):
    """Customers per lifecycle stage per day (from marts.segment_daily)."""

    segment_date: dt.date
    lifecycle_stage: str
    customers: int


class SegmentMove(_Row):
    """Customers moving from one lifecycle stage to another on a day (from marts.segment_daily)."""

    segment_date: dt.date
    from_stage: str | None = Field(description="Null for a customer's first stage.")
    to_stage: str
    customers: int


class CustomerProfile(_Row):
    """marts.user_profile: one row per customer."""

    customer_id: str
    signup_date: dt.date | None
    city: str | None
    acquisition_channel: str | None
    first_order_date: dt.date | None
    last_order_date: dt.date | None
    orders: Count
    sales_amount: Money
    net_revenue: Money
    recency_days: Count
    lifecycle_stage: str | None
    r_score: Count
    f_score: Count
    m_score: Count
    rfm_segment: str | None
    value_tier: str | None
    scene_affinity: str | None
    transaction_events_90d: Count
    social_events_90d: Count
    content_events_90d: Count
    last_active_date: dt.date | None
    latest_nps_score: Count
    latest_nps_group: str | None
    complaints: Count
    open_complaints: Count
    churn_risk: Rate
    churn_risk_decile: Count
    churn_risk_segment: str | None
    churn_model_version: str | None
    as_of_date: dt.date | None


# --- model outputs and alerts -----------------------------------------------------------------------


class ChurnScore(_Row):
    """The latest churn score: an application.churn_risk_scores row, or the profile's two columns."""

    churn_probability: float | None
    risk_decile: Count


class ChurnScoreRow(_Row):
    """application.churn_risk_scores: one row per customer and scoring."""

    customer_id: str
    churn_probability: float | None
    risk_decile: Count
    model_version: str | None
    scored_at: dt.datetime | None
    cutoff: dt.date | None


class Customer(BaseModel):
    customer_id: str
    profile: CustomerProfile
    churn_risk: ChurnScoreRow | ChurnScore | None = Field(
        description="Null for a customer without a score (prospects and churned customers are not scored)."
    )
    churn_risk_source: Literal["application.churn_risk_scores", "marts.user_profile"] | None
    published_at: dt.datetime | None


class DemandForecastDay(_Row):
    """application.demand_forecast: one row per product and forecast day (latest generation only)."""

    product_id: str
    forecast_date: dt.date
    p10: float | None
    p50: float | None
    p90: float | None
    model_version: str | None
    method: str | None
    generated_at: dt.datetime | None
    expected_units: float | None


class ExperimentVariant(_Row):
    """application.ab_test_results: one row per experiment and variant."""

    experiment_id: str
    variant: str
    is_control: bool | None
    users: Count
    conversions: Count
    conversion_rate: float | None
    revenue: float | None
    revenue_per_user: float | None
    revenue_per_user_sd: float | None
    planned_share: float | None
    observed_share: float | None
    abs_lift: float | None
    abs_lift_ci_low: float | None
    abs_lift_ci_high: float | None
    rel_lift: float | None
    rel_lift_ci_low: float | None
    rel_lift_ci_high: float | None
    z_conversion: float | None
    p_value_conversion: float | None
    revenue_per_user_diff: float | None
    revenue_per_user_diff_ci_low: float | None
    revenue_per_user_diff_ci_high: float | None
    revenue_per_user_rel_lift: float | None
    t_revenue: float | None
    df_revenue: float | None
    p_value_revenue: float | None
    srm_chi2: float | None
    srm_p_value: float | None = Field(
        description="Sample-ratio-mismatch test: a small value means the split is broken."
    )
    decision: str | None = Field(
        description="insufficient_data, invalid_srm, harm, ship or no_effect; decision_reason says why."
    )
    decision_reason: str | None
    experiment_users: Count
    crossover_users: Count
    first_assigned_at: dt.datetime | None
    last_assigned_at: dt.datetime | None
    as_of: dt.datetime | None
    conversion_window_hours: float | None
    alpha: float | None
    computed_at: dt.datetime | None


class Alert(_Row):
    """ops.alerts: one row per alert raised."""

    alert_id: int
    created_at: dt.datetime
    level: Literal["red", "yellow", "blue"]
    asset: str | None
    check_name: str | None
    partition: str | None
    message: str | None
    run_id: str | None


# --- service ----------------------------------------------------------------------------------------


class Health(BaseModel):
    status: Literal["ok"]
    published_at: dt.datetime | None
    age_seconds: float | None
    tables: int = Field(description="Tables in the snapshot's manifest.")
    snapshot_reopened: int = Field(description="How often this process has switched to a newer snapshot.")


class NoSnapshot(BaseModel):
    status: Literal["no_snapshot"]
    detail: str
