"""The HTTP data API: KPIs, segments, customers, forecasts, experiments and alerts from the serving snapshot.

It reads only the serving snapshot (never the warehouse), through read-only DuckDB connections,
and picks up a newly published snapshot without a restart (see api/snapshot.py). Every data
endpoint needs an API key with the endpoint's scope; every query is parameterised; every list is
paginated (limit/offset, at most MAX_PAGE rows a page, in a stable order).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import duckdb
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from api.params import MAX_PAGE
from api.routers import alerts, charts, customers, dashboard, experiments, forecasts, health, kpis
from api.snapshot import SnapshotMissing, SnapshotReader
from core.service.snapshot import CHARTS_DIR

log = logging.getLogger("dmp.api")

ROUTERS = (health, kpis, customers, forecasts, experiments, alerts, dashboard, charts)

__all__ = ["MAX_PAGE", "create_app"]


def create_app(
    snapshot_path: Path | str, keys: Mapping[str, frozenset[str]], dashboard_path: Path | str | None = None
) -> FastAPI:
    """The API over the snapshot at `snapshot_path`; `keys` maps each API key to its scopes."""
    snapshot_path = Path(snapshot_path)
    reader = SnapshotReader(snapshot_path)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        reader.close()

    app = FastAPI(
        title="Data Middle Platform API",
        version="1.0",
        description="KPIs, segments, customer profiles, demand forecasts, experiment results and alerts from the "
        "read-only serving snapshot. Every /v1 endpoint needs an API key (header `X-API-Key`) with "
        "the endpoint's scope.",
        lifespan=lifespan,
        redirect_slashes=False,  # a trailing slash is a 404, not a redirect to another resource
        docs_url=None,  # served below from the API's own copy of Swagger UI, not from a CDN
        redoc_url=None,
    )
    app.mount("/static/swagger-ui", StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    async def interactive_docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=f"{app.title} - docs",
            swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/swagger-ui/favicon-32x32.png",
        )

    app.state.reader = reader
    app.state.keys = dict(keys)
    app.state.dashboard = Path(dashboard_path) if dashboard_path else snapshot_path.parent / "dashboard" / "index.html"
    app.state.charts = snapshot_path.parent / CHARTS_DIR  # the model charts the model assets write

    @app.exception_handler(RequestValidationError)
    async def invalid_parameter(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "parameter": str(e["loc"][-1]) if e.get("loc") else None,
                "in": str(e["loc"][0]) if e.get("loc") else None,
                "message": e.get("msg", ""),
            }
            for e in exc.errors()
        ]
        text = "; ".join(f"invalid parameter '{e['parameter']}': {e['message']}" for e in errors)
        return JSONResponse({"detail": text, "errors": errors}, status_code=422)

    @app.exception_handler(duckdb.Error)
    async def snapshot_cannot_answer(request: Request, exc: duckdb.Error) -> JSONResponse:
        # e.g. a model output published with other columns than this endpoint reads
        log.error("query for %s failed on the snapshot: %s", request.url.path, exc)
        return JSONResponse(
            {
                "detail": "the serving snapshot cannot answer this request: a table lacks what this "
                "endpoint reads; republish the snapshot or upgrade the API"
            },
            status_code=503,
        )

    @app.exception_handler(SnapshotMissing)
    async def no_snapshot(request: Request, exc: SnapshotMissing) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    for module in ROUTERS:
        app.include_router(module.router)
    return app
