"""/v1/forecasts: the latest demand forecast per product (scope `forecasts`)."""

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from api.auth import require
from api.deps import Snapshot
from api.params import DEFAULT_PAGE, End, Limit, Offset, Start, Text
from api.queries import Filters, page, require_table
from api.schemas import DATA_ERRORS, NOT_PRODUCED, DemandForecastDay, Page

router = APIRouter(tags=["forecasts"], dependencies=[Depends(require("forecasts"))], responses=DATA_ERRORS)


@router.get(
    "/v1/forecasts/demand",
    summary="Latest demand forecast per product (application.demand_forecast)",
    responses={200: {"model": Page[DemandForecastDay]}, **NOT_PRODUCED},
)
def demand(
    snapshot: Snapshot,
    product_id: Text("One product.") = None,
    start: Start = None,
    end: End = None,
    limit: Limit = DEFAULT_PAGE,
    offset: Offset = 0,
) -> JSONResponse:
    with snapshot() as (cur, published_at):
        require_table(cur, "application", "demand_forecast", "the demand model")
        relation = (
            "(select * from application.demand_forecast "
            "qualify generated_at = max(generated_at) over (partition by product_id)) as latest"
        )
        filters = Filters().when(product_id, "product_id = ?").date_range("forecast_date", start, end)
        return page(cur, relation, filters, "product_id, forecast_date", limit, offset, published_at)
