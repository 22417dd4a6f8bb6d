"""/v1/segments and /v1/customers: lifecycle segments and one customer's profile (scope `customers`)."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse

from api.auth import require
from api.deps import Snapshot
from api.params import DEFAULT_PAGE, MAX_TEXT, End, Limit, Offset, Start, Text
from api.queries import Filters, has_table, jsonable, page, records
from api.schemas import DATA_ERRORS, Customer, ErrorBody, Page, SegmentMove, SegmentSize

router = APIRouter(tags=["customers"], dependencies=[Depends(require("customers"))], responses=DATA_ERRORS)


@router.get(
    "/v1/segments/sizes",
    summary="Customers per lifecycle stage per day (marts.segment_daily)",
    responses={200: {"model": Page[SegmentSize]}},
)
def segment_sizes(
    snapshot: Snapshot,
    start: Start = None,
    end: End = None,
    stage: Text("One lifecycle stage, e.g. at_risk.") = None,
    limit: Limit = DEFAULT_PAGE,
    offset: Offset = 0,
) -> JSONResponse:
    with snapshot() as (cur, published_at):
        inner = Filters().date_range("segment_date", start, end).when(stage, "lifecycle_stage = ?")
        relation = (
            "(select segment_date, lifecycle_stage, count(*) as customers from marts.segment_daily"
            f"{inner.sql} group by all) as sizes"
        )
        return page(cur, relation, inner.moved_inside(), "segment_date, lifecycle_stage", limit, offset, published_at)


@router.get(
    "/v1/segments/moves",
    summary="Customers moving between lifecycle stages per day (marts.segment_daily)",
    responses={200: {"model": Page[SegmentMove]}},
)
def segment_moves(
    snapshot: Snapshot,
    start: Start = None,
    end: End = None,
    from_stage: Text("Stage moved from.") = None,
    to_stage: Text("Stage moved to.") = None,
    limit: Limit = DEFAULT_PAGE,
    offset: Offset = 0,
) -> JSONResponse:
    with snapshot() as (cur, published_at):
        inner = (
            Filters()
            .add("changed")
            .date_range("segment_date", start, end)
            .when(from_stage, "previous_stage = ?")
            .when(to_stage, "lifecycle_stage = ?")
        )
        relation = (
            "(select segment_date, previous_stage as from_stage, lifecycle_stage as to_stage, "
            f"count(*) as customers from marts.segment_daily{inner.sql} group by all) as moves"
        )
        return page(
            cur, relation, inner.moved_inside(), "segment_date, from_stage, to_stage", limit, offset, published_at
        )


@router.get(
    "/v1/customers/{customer_id}",
    summary="One customer's profile: segment, RFM, value tier, churn risk (marts.user_profile)",
    responses={
        200: {"model": Customer},
        404: {"model": ErrorBody, "description": "No customer with that customer_id."},
    },
)
def customer(
    snapshot: Snapshot, customer_id: Annotated[str, PathParam(min_length=1, max_length=MAX_TEXT)]
) -> JSONResponse:
    with snapshot() as (cur, published_at):
        found = records(cur, "select * from marts.user_profile where customer_id = ?", [customer_id])
        if not found:
            raise HTTPException(404, "no customer with that customer_id in marts.user_profile")
        profile = found[0]
        churn, source = None, None
        if has_table(cur, "application", "churn_risk_scores"):
            scores = records(
                cur,
                "select * from application.churn_risk_scores where customer_id = ? order by scored_at desc limit 1",
                [customer_id],
            )
            if scores:
                churn, source = scores[0], "application.churn_risk_scores"
        if churn is None and profile.get("churn_risk") is not None:
            churn = {"churn_probability": profile.get("churn_risk"), "risk_decile": profile.get("churn_risk_decile")}
            source = "marts.user_profile"
        return JSONResponse(
            {
                "customer_id": profile["customer_id"],
                "profile": profile,
                "churn_risk": churn,
                "churn_risk_source": source,
                "published_at": jsonable(published_at),
            }
        )
