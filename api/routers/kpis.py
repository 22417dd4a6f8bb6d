"""/v1/kpis: daily, monthly, channel and retention KPIs from the marts (scope `kpis`)."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from api.auth import require
from api.deps import Snapshot
from api.params import DEFAULT_PAGE, End, IsoDate, Limit, Offset, Start, Text
from api.queries import Filters, page
from api.schemas import DATA_ERRORS, KpiChannelDay, KpiDay, KpiMonth, Page, RetentionCohort

router = APIRouter(prefix="/v1/kpis", tags=["kpis"], dependencies=[Depends(require("kpis"))], responses=DATA_ERRORS)


@router.get("/daily", summary="Daily headline KPIs (marts.kpi_daily)", responses={200: {"model": Page[KpiDay]}})
def kpi_daily(
    snapshot: Snapshot, start: Start = None, end: End = None, limit: Limit = DEFAULT_PAGE, offset: Offset = 0
) -> JSONResponse:
    with snapshot() as (cur, published_at):
        return page(
            cur,
            "marts.kpi_daily",
            Filters().date_range("kpi_date", start, end),
            "kpi_date",
            limit,
            offset,
            published_at,
        )


@router.get(
    "/monthly", summary="Monthly KPIs against targets (marts.kpi_monthly)", responses={200: {"model": Page[KpiMonth]}}
)
def kpi_monthly(
    snapshot: Snapshot,
    start: Start = None,
    end: End = None,
    kpi: Text("One KPI, e.g. net_revenue.") = None,
    limit: Limit = DEFAULT_PAGE,
    offset: Offset = 0,
) -> JSONResponse:
    with snapshot() as (cur, published_at):
        filters = Filters().date_range("kpi_month", start, end).when(kpi, "kpi = ?")
        return page(cur, "marts.kpi_monthly", filters, "kpi_month, kpi", limit, offset, published_at)


@router.get(
    "/channels",
    summary="Marketing KPIs per day and channel (marts.kpi_channel_daily)",
    responses={200: {"model": Page[KpiChannelDay]}},
)
def kpi_channels(
    snapshot: Snapshot,
    start: Start = None,
    end: End = None,
    channel: Text("One channel, e.g. paid_search.") = None,
    limit: Limit = DEFAULT_PAGE,
    offset: Offset = 0,
) -> JSONResponse:
    with snapshot() as (cur, published_at):
        filters = Filters().date_range("kpi_date", start, end).when(channel, "channel = ?")
        return page(cur, "marts.kpi_channel_daily", filters, "kpi_date, channel", limit, offset, published_at)


@router.get(
    "/retention",
    summary="Retention by first-purchase cohort (marts.kpi_retention_cohorts)",
    responses={200: {"model": Page[RetentionCohort]}},
)
def retention(
    snapshot: Snapshot,
    grain: Annotated[Literal["month", "week"] | None, Query(description="Cohort grain.")] = None,
    start: Annotated[IsoDate | None, Query(description="First cohort start (inclusive).")] = None,
    end: Annotated[IsoDate | None, Query(description="Last cohort start (inclusive).")] = None,
    limit: Limit = DEFAULT_PAGE,
    offset: Offset = 0,
) -> JSONResponse:
    with snapshot() as (cur, published_at):
        filters = Filters().when(grain, "cohort_grain = ?").date_range("cohort_start", start, end)
        return page(
            cur,
            "marts.kpi_retention_cohorts",
            filters,
            "cohort_grain, cohort_start, periods_since",
            limit,
            offset,
            published_at,
        )
