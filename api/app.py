"""The HTTP data API: KPIs, segments, customers, forecasts, experiments and alerts from the serving snapshot.

It reads only the serving snapshot (never the warehouse), through read-only DuckDB connections,
and picks up a newly published snapshot without a restart (see api/snapshot.py). Every data
endpoint needs an API key with the endpoint's scope; every query is parameterised; every list is
paginated (limit/offset, at most MAX_PAGE rows a page, in a stable order).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import decimal
import logging
import math
import re
import uuid
from collections.abc import Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Literal

import duckdb
from fastapi import Depends, FastAPI, HTTPException, Path as PathParam, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import APIKeyHeader
from pydantic import BeforeValidator

from api.keys import allows, find_key, mask
from api.snapshot import SnapshotMissing, SnapshotReader

log = logging.getLogger("dmp.api")

MAX_PAGE = 1000
DEFAULT_PAGE = 100
MAX_OFFSET = 100_000_000
MAX_TEXT = 128  # longest identifier accepted in a parameter (product, customer, channel, KPI, ...)

ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?)?")


def _iso(pattern: re.Pattern, example: str) -> Callable[[object], object]:
    """Accept only ISO-8601 text (pydantic alone would also read '0' as 1970-01-01)."""
    def check(value: object) -> object:
        if isinstance(value, str) and not pattern.fullmatch(value):
            raise ValueError(f"expected an ISO-8601 value like {example}")
        return value
    return check


IsoDate = Annotated[dt.date, BeforeValidator(_iso(ISO_DATE, "2026-03-31"))]
IsoDatetime = Annotated[dt.datetime, BeforeValidator(_iso(ISO_DATETIME, "2026-03-31T08:00:00Z"))]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"Rows per page (at most {MAX_PAGE}).")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip (pagination).")]
Start = Annotated[IsoDate | None, Query(description="First day (inclusive), YYYY-MM-DD.")]
End = Annotated[IsoDate | None, Query(description="Last day (inclusive), YYYY-MM-DD.")]


def Text(description: str):  # noqa: N802 (a parameter type, named like one)
    return Annotated[str | None, Query(min_length=1, max_length=MAX_TEXT, description=description)]


_api_key = APIKeyHeader(name="X-API-Key", auto_error=False,
                        description="API key (or `Authorization: Bearer <key>`); see docs/serving.md for scopes.")


def _presented_key(header_key: str | None, authorization: str | None) -> str | None:
    if header_key:
        return header_key
    if not authorization:
        return None
    kind, _, value = authorization.partition(" ")
    if kind.lower() == "bearer":
        return value.strip() or None
    if kind.lower() == "basic":  # browsers (the dashboard): the key is the password, or the user name
        try:
            user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return password or user or None
    return None


def _jsonable(value: object) -> object:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        return float(value) if value.is_finite() else None
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def records(cur: duckdb.DuckDBPyConnection, sql: str, params: list) -> list[dict]:
    """Run a parameterised query; rows as JSON-ready dicts."""
    rows = cur.execute(sql, params).fetchall()
    names = [d[0] for d in cur.description]
    return [{n: _jsonable(v) for n, v in zip(names, row)} for row in rows]


class Filters:
    """WHERE conditions with their parameters: the SQL text is fixed by the code, values are bound."""

    def __init__(self) -> None:
        self.conditions: list[str] = []
        self.params: list = []

    def add(self, condition: str, *values: object) -> Filters:
        self.conditions.append(condition)
        self.params.extend(values)
        return self

    def when(self, value: object, condition: str) -> Filters:
        return self.add(condition, value) if value is not None else self

    def date_range(self, column: str, start: dt.date | None, end: dt.date | None) -> Filters:
        if start is not None and end is not None and start > end:
            raise HTTPException(422, f"invalid parameter 'start': {start} is after end {end}")
        return self.when(start, f"{column} >= ?").when(end, f"{column} <= ?")

    def moved_inside(self) -> Filters:
        """The parameters alone, for a relation whose subquery already holds these conditions."""
        outer = Filters()
        outer.params = list(self.params)
        return outer

    @property
    def sql(self) -> str:
        return (" where " + " and ".join(self.conditions)) if self.conditions else ""


def page(cur: duckdb.DuckDBPyConnection, relation: str, filters: Filters, order: str, limit: int, offset: int,
         published_at: object) -> JSONResponse:
    """One page of `relation` (a table name or a subquery fixed by the code) in a stable order.

    Returned as a ready JSONResponse: the values are already JSON types, so FastAPI's generic
    encoder (slow on a thousand rows) is skipped."""
    total = cur.execute(f"select count(*) from {relation}{filters.sql}", filters.params).fetchone()[0]
    items = records(cur, f"select * from {relation}{filters.sql} order by {order} limit ? offset ?",
                    [*filters.params, limit, offset])
    return JSONResponse({
        "items": items,
        "count": len(items),
        "total": int(total),
        "limit": limit,
        "offset": offset,
        "next_offset": offset + limit if offset + limit < total else None,
        "published_at": _jsonable(published_at),
    })


def has_table(cur: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return cur.execute("select count(*) from information_schema.tables where table_catalog = current_database() "
                       "and table_schema = ? and table_name = ?", [schema, table]).fetchone()[0] > 0


def columns_of(cur: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    return [c for (c,) in cur.execute(
        "select column_name from information_schema.columns where table_catalog = current_database() "
        "and table_schema = ? and table_name = ? order by ordinal_position", [schema, table]).fetchall()]


def require_table(cur: duckdb.DuckDBPyConnection, schema: str, table: str, produced_by: str) -> None:
    if not has_table(cur, schema, table):
        raise HTTPException(404, f"{schema}.{table} is not in the serving snapshot yet: {produced_by} has not "
                                 "produced it (materialise it, then service/serving_snapshot)")


def create_app(snapshot_path: Path | str, keys: Mapping[str, frozenset[str]],
               dashboard_path: Path | str | None = None) -> FastAPI:
    """The API over the snapshot at `snapshot_path`; `keys` maps each API key to its scopes."""
    snapshot_path = Path(snapshot_path)
    dashboard = Path(dashboard_path) if dashboard_path else snapshot_path.parent / "dashboard" / "index.html"
    reader = SnapshotReader(snapshot_path)
    keys = dict(keys)

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
    )
    app.state.reader = reader

    @app.exception_handler(RequestValidationError)
    async def invalid_parameter(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"parameter": str(e["loc"][-1]) if e.get("loc") else None,
                   "in": str(e["loc"][0]) if e.get("loc") else None, "message": e.get("msg", "")}
                  for e in exc.errors()]
        text = "; ".join(f"invalid parameter '{e['parameter']}': {e['message']}" for e in errors)
        return JSONResponse({"detail": text, "errors": errors}, status_code=422)

    @app.exception_handler(duckdb.Error)
    async def snapshot_cannot_answer(request: Request, exc: duckdb.Error) -> JSONResponse:
        # e.g. a model output published with other columns than this endpoint reads
        log.error("query for %s failed on the snapshot: %s", request.url.path, exc)
        return JSONResponse({"detail": "the serving snapshot cannot answer this request: a table lacks what this "
                                       "endpoint reads; republish the snapshot or upgrade the API"}, status_code=503)

    @app.exception_handler(SnapshotMissing)
    async def no_snapshot(request: Request, exc: SnapshotMissing) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    def require(scope: str, browser: bool = False) -> Callable:
        challenge = {"WWW-Authenticate": 'Basic realm="dmp"' if browser else "ApiKey"}

        def check(request: Request, header_key: Annotated[str | None, Security(_api_key)] = None) -> None:
            presented = _presented_key(header_key, request.headers.get("authorization"))
            if not presented:
                raise HTTPException(401, "an API key is required: send it in the X-API-Key header",
                                    headers=challenge)
            scopes = find_key(keys, presented)
            if scopes is None:
                log.warning("rejected unknown API key %s on %s", mask(presented), request.url.path)
                raise HTTPException(401, "unknown API key", headers=challenge)
            if not allows(scopes, scope):
                log.info("key %s lacks scope %s for %s", mask(presented), scope, request.url.path)
                raise HTTPException(403, f"this API key does not have the '{scope}' scope")

        return check

    snapshot = reader.lease
    kpis, customers = Depends(require("kpis")), Depends(require("customers"))

    @app.get("/health", tags=["service"], summary="Is a snapshot being served, and how old is it (no key needed)")
    def health() -> JSONResponse:
        try:
            with snapshot() as (cur, published_at):
                tables = cur.execute("select count(*) from meta.tables").fetchone()[0]
        except SnapshotMissing as exc:
            return JSONResponse({"status": "no_snapshot", "detail": str(exc)}, status_code=503)
        age = (dt.datetime.now(dt.timezone.utc) - published_at).total_seconds() if published_at else None
        return JSONResponse({"status": "ok", "published_at": _jsonable(published_at),
                             "age_seconds": round(age, 1) if age is not None else None, "tables": int(tables),
                             "snapshot_reopened": reader.reopened})

    @app.get("/v1/kpis/daily", tags=["kpis"], dependencies=[kpis], summary="Daily headline KPIs (marts.kpi_daily)")
    def kpi_daily(start: Start = None, end: End = None, limit: Limit = DEFAULT_PAGE,
                  offset: Offset = 0) -> JSONResponse:
        with snapshot() as (cur, published_at):
            return page(cur, "marts.kpi_daily", Filters().date_range("kpi_date", start, end), "kpi_date",
                        limit, offset, published_at)

    @app.get("/v1/kpis/monthly", tags=["kpis"], dependencies=[kpis],
             summary="Monthly KPIs against targets (marts.kpi_monthly)")
    def kpi_monthly(start: Start = None, end: End = None, kpi: Text("One KPI, e.g. net_revenue.") = None,
                    limit: Limit = DEFAULT_PAGE, offset: Offset = 0) -> JSONResponse:
        with snapshot() as (cur, published_at):
            filters = Filters().date_range("kpi_month", start, end).when(kpi, "kpi = ?")
            return page(cur, "marts.kpi_monthly", filters, "kpi_month, kpi", limit, offset, published_at)

    @app.get("/v1/kpis/channels", tags=["kpis"], dependencies=[kpis],
             summary="Marketing KPIs per day and channel (marts.kpi_channel_daily)")
    def kpi_channels(start: Start = None, end: End = None, channel: Text("One channel, e.g. paid_search.") = None,
                     limit: Limit = DEFAULT_PAGE, offset: Offset = 0) -> JSONResponse:
        with snapshot() as (cur, published_at):
            filters = Filters().date_range("kpi_date", start, end).when(channel, "channel = ?")
            return page(cur, "marts.kpi_channel_daily", filters, "kpi_date, channel", limit, offset, published_at)

    @app.get("/v1/kpis/retention", tags=["kpis"], dependencies=[kpis],
             summary="Retention by first-purchase cohort (marts.kpi_retention_cohorts)")
    def retention(grain: Annotated[Literal["month", "week"] | None, Query(description="Cohort grain.")] = None,
                  start: Annotated[IsoDate | None, Query(description="First cohort start (inclusive).")] = None,
                  end: Annotated[IsoDate | None, Query(description="Last cohort start (inclusive).")] = None,
                  limit: Limit = DEFAULT_PAGE, offset: Offset = 0) -> JSONResponse:
        with snapshot() as (cur, published_at):
            filters = Filters().when(grain, "cohort_grain = ?").date_range("cohort_start", start, end)
            return page(cur, "marts.kpi_retention_cohorts", filters, "cohort_grain, cohort_start, periods_since",
                        limit, offset, published_at)

    @app.get("/v1/segments/sizes", tags=["customers"], dependencies=[customers],
             summary="Customers per lifecycle stage per day (marts.segment_daily)")
    def segment_sizes(start: Start = None, end: End = None,
                      stage: Text("One lifecycle stage, e.g. at_risk.") = None,
                      limit: Limit = DEFAULT_PAGE, offset: Offset = 0) -> JSONResponse:
        with snapshot() as (cur, published_at):
            inner = Filters().date_range("segment_date", start, end).when(stage, "lifecycle_stage = ?")
            relation = ("(select segment_date, lifecycle_stage, count(*) as customers from marts.segment_daily"
                        f"{inner.sql} group by all) as sizes")
            return page(cur, relation, inner.moved_inside(), "segment_date, lifecycle_stage", limit, offset,
                        published_at)

    @app.get("/v1/segments/moves", tags=["customers"], dependencies=[customers],
             summary="Customers moving between lifecycle stages per day (marts.segment_daily)")
    def segment_moves(start: Start = None, end: End = None,
                      from_stage: Text("Stage moved from.") = None, to_stage: Text("Stage moved to.") = None,
                      limit: Limit = DEFAULT_PAGE, offset: Offset = 0) -> JSONResponse:
        with snapshot() as (cur, published_at):
            inner = (Filters().add("changed").date_range("segment_date", start, end)
                     .when(from_stage, "previous_stage = ?").when(to_stage, "lifecycle_stage = ?"))
            relation = ("(select segment_date, previous_stage as from_stage, lifecycle_stage as to_stage, "
                        f"count(*) as customers from marts.segment_daily{inner.sql} group by all) as moves")
            return page(cur, relation, inner.moved_inside(), "segment_date, from_stage, to_stage", limit, offset,
                        published_at)

    @app.get("/v1/customers/{customer_id}", tags=["customers"], dependencies=[customers],
             summary="One customer's profile: segment, RFM, value tier, churn risk (marts.user_profile)")
    def customer(customer_id: Annotated[str, PathParam(min_length=1, max_length=MAX_TEXT)]) -> JSONResponse:
        with snapshot() as (cur, published_at):
            found = records(cur, "select * from marts.user_profile where customer_id = ?", [customer_id])
            if not found:
                raise HTTPException(404, "no customer with that customer_id in marts.user_profile")
            profile = found[0]
            churn, source = None, None
            if has_table(cur, "application", "churn_risk_scores"):
                scores = records(cur, "select * from application.churn_risk_scores where customer_id = ? "
                                      "order by scored_at desc limit 1", [customer_id])
                if scores:
                    churn, source = scores[0], "application.churn_risk_scores"
            if churn is None and profile.get("churn_risk") is not None:
                churn = {"churn_probability": profile.get("churn_risk"),
                         "risk_decile": profile.get("churn_risk_decile")}
                source = "marts.user_profile"
            return JSONResponse({"customer_id": profile["customer_id"], "profile": profile, "churn_risk": churn,
                                 "churn_risk_source": source, "published_at": _jsonable(published_at)})

    @app.get("/v1/forecasts/demand", tags=["forecasts"], dependencies=[Depends(require("forecasts"))],
             summary="Latest demand forecast per product (application.demand_forecast)")
    def demand(product_id: Text("One product.") = None, start: Start = None, end: End = None,
               limit: Limit = DEFAULT_PAGE, offset: Offset = 0) -> JSONResponse:
        with snapshot() as (cur, published_at):
            require_table(cur, "application", "demand_forecast", "the demand model")
            relation = ("(select * from application.demand_forecast "
                        "qualify generated_at = max(generated_at) over (partition by product_id)) as latest")
            filters = Filters().when(product_id, "product_id = ?").date_range("forecast_date", start, end)
            return page(cur, relation, filters, "product_id, forecast_date", limit, offset, published_at)

    @app.get("/v1/experiments", tags=["experiments"], dependencies=[Depends(require("experiments"))],
             summary="A/B test results (application.ab_test_results)")
    def experiments(experiment_id: Text("One experiment.") = None, limit: Limit = DEFAULT_PAGE,
                    offset: Offset = 0) -> JSONResponse:
        with snapshot() as (cur, published_at):
            require_table(cur, "application", "ab_test_results", "the A/B test analysis")
            filters = Filters()
            if experiment_id is not None:
                if "experiment_id" not in columns_of(cur, "application", "ab_test_results"):
                    raise HTTPException(422, "invalid parameter 'experiment_id': the results have no such column")
                filters.add("experiment_id = ?", experiment_id)
            return page(cur, "application.ab_test_results", filters, "all", limit, offset, published_at)

    @app.get("/v1/alerts", tags=["alerts"], dependencies=[Depends(require("alerts"))],
             summary="Red/yellow/blue alerts, newest first (ops.alerts)")
    def alerts(level: Annotated[Literal["red", "yellow", "blue"] | None, Query(description="Alert level.")] = None,
               since: Annotated[IsoDatetime | None, Query(description="Alerts created at or after (UTC).")] = None,
               asset: Text("Alerts on one asset, e.g. application/kpi_alerts.") = None,
               limit: Limit = DEFAULT_PAGE, offset: Offset = 0) -> JSONResponse:
        if since is not None and since.tzinfo is not None:
            since = since.astimezone(dt.timezone.utc).replace(tzinfo=None)
        with snapshot() as (cur, published_at):
            filters = Filters().when(level, "level = ?").when(since, "created_at >= ?").when(asset, "asset = ?")
            return page(cur, "ops.alerts", filters, "alert_id desc", limit, offset, published_at)

    @app.get("/dashboard", tags=["service"], dependencies=[Depends(require("dashboard", browser=True))],
             summary="The KPI dashboard (static HTML), for keys with the dashboard scope", response_model=None)
    def dashboard_page() -> FileResponse:
        if not dashboard.is_file():
            raise HTTPException(404, "no dashboard has been generated yet: materialise the application dashboard "
                                     f"asset (it writes {dashboard.name} under the serving directory)")
        return FileResponse(dashboard, media_type="text/html")

    return app
