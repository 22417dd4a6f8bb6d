"""/v1/alerts: red, yellow and blue alerts, newest first (scope `alerts`)."""

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from api.auth import require
from api.deps import Snapshot
from api.params import DEFAULT_PAGE, IsoDatetime, Limit, Offset, Text
from api.queries import Filters, page
from api.schemas import DATA_ERRORS, Alert, Page


def _as_utc(moment: dt.datetime) -> dt.datetime:
    """A naive UTC datetime; an offset that moves it past year 1 or 9999 clamps to that end."""
    try:
        return moment.astimezone(dt.UTC).replace(tzinfo=None)
    except OverflowError:
        return dt.datetime.min if moment.year == dt.MINYEAR else dt.datetime.max


router = APIRouter(tags=["alerts"], dependencies=[Depends(require("alerts"))], responses=DATA_ERRORS)


@router.get(
    "/v1/alerts", summary="Red/yellow/blue alerts, newest first (ops.alerts)", responses={200: {"model": Page[Alert]}}
)
def alerts(
    snapshot: Snapshot,
    level: Annotated[Literal["red", "yellow", "blue"] | None, Query(description="Alert level.")] = None,
    since: Annotated[IsoDatetime | None, Query(description="Alerts created at or after (UTC).")] = None,
    asset: Text("Alerts on one asset, e.g. application/kpi_alerts.") = None,
    limit: Limit = DEFAULT_PAGE,
    offset: Offset = 0,
) -> JSONResponse:
    if since is not None and since.tzinfo is not None:
        since = _as_utc(since)
    with snapshot() as (cur, published_at):
        filters = Filters().when(level, "level = ?").when(since, "created_at >= ?").when(asset, "asset = ?")
        return page(cur, "ops.alerts", filters, "alert_id desc", limit, offset, published_at)
