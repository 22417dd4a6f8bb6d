"""/v1/experiments: A/B test results (scope `experiments`)."""

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from api.auth import require
from api.deps import Snapshot
from api.params import DEFAULT_PAGE, Limit, Offset, Text
from api.queries import Filters, columns_of, invalid_parameter, page, require_table
from api.schemas import DATA_ERRORS, NOT_PRODUCED, ExperimentVariant, Page

router = APIRouter(tags=["experiments"], dependencies=[Depends(require("experiments"))], responses=DATA_ERRORS)


@router.get(
    "/v1/experiments",
    summary="A/B test results (application.ab_test_results)",
    responses={200: {"model": Page[ExperimentVariant]}, **NOT_PRODUCED},
)
def experiments(
    snapshot: Snapshot, experiment_id: Text("One experiment.") = None, limit: Limit = DEFAULT_PAGE, offset: Offset = 0
) -> JSONResponse:
    with snapshot() as (cur, published_at):
        require_table(cur, "application", "ab_test_results", "the A/B test analysis")
        filters = Filters()
        if experiment_id is not None:
            if "experiment_id" not in columns_of(cur, "application", "ab_test_results"):
                raise invalid_parameter("experiment_id", "the results have no such column")
            filters.add("experiment_id = ?", experiment_id)
        return page(cur, "application.ab_test_results", filters, "all", limit, offset, published_at)
