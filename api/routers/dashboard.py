"""GET /dashboard: the static KPI dashboard page, for keys with the `dashboard` scope (browsers: Basic auth)."""

from fastapi import APIRouter, Depends, HTTPException, Request, Security
from fastapi.responses import FileResponse

from api.auth import BASIC, require
from api.schemas import AUTH_ERRORS, ErrorBody

router = APIRouter(tags=["service"])


@router.get(
    "/dashboard",
    dependencies=[Depends(require("dashboard", browser=True)), Security(BASIC)],
    response_model=None,
    response_class=FileResponse,
    responses={
        200: {"content": {"text/html": {}}, "description": "The dashboard page."},
        **AUTH_ERRORS,
        404: {"model": ErrorBody, "description": "No dashboard has been generated yet."},
    },
    summary="The KPI dashboard (static HTML), for keys with the dashboard scope",
)
def dashboard_page(request: Request) -> FileResponse:
    dashboard = request.app.state.dashboard
    if not dashboard.is_file():
        raise HTTPException(
            404,
            "no dashboard has been generated yet: materialise the application dashboard "
            f"asset (it writes {dashboard.name} under the serving directory)",
        )
    return FileResponse(dashboard, media_type="text/html")
