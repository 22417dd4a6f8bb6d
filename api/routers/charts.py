"""GET /charts/{model}/{version}/{chart}: the model assets' evaluation charts, for the Dagster UI (no key).

The model assets write each chart to <serving_dir>/charts/<model>/<version>/<chart>.png and link it
from their asset page; the UI shows markdown images only from http(s) addresses, and a browser does
not send an API key for an image, so this route needs none. It serves those PNG files only: every
path part is a plain name (no '/', no leading '.'), and a version's chart never changes.
"""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

from api.params import MAX_TEXT
from api.schemas import ErrorBody, ValidationErrorBody
from core.service.snapshot import CHART_NAME

router = APIRouter(tags=["service"])

Name = Annotated[str, PathParam(pattern=f"^{CHART_NAME}$", max_length=MAX_TEXT)]


@router.get(
    "/charts/{model}/{version}/{chart}",
    response_model=None,
    response_class=FileResponse,
    summary="A model version's evaluation chart (PNG), as shown on its Dagster asset page (no key needed)",
    responses={
        200: {"content": {"image/png": {}}, "description": "The chart."},
        404: {"model": ErrorBody, "description": "No such chart."},
        422: {"model": ValidationErrorBody, "description": "A path part is not a plain name."},
    },
)
def chart(
    request: Request,
    model: Name,
    version: Name,
    chart: Annotated[str, PathParam(pattern=rf"^{CHART_NAME}\.png$", max_length=MAX_TEXT)],
) -> FileResponse:
    path = request.app.state.charts / model / version / chart
    if not path.is_file():
        raise HTTPException(404, f"no chart {chart} for {model} version {version}: the model asset writes it")
    return FileResponse(path, media_type="image/png", headers={"Cache-Control": "public, max-age=86400, immutable"})
