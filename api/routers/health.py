"""GET /health: is a snapshot served, and how old is it (no key needed)."""

import datetime as dt

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.deps import Snapshot
from api.queries import jsonable
from api.schemas import Health, NoSnapshot
from api.snapshot import SnapshotMissing

router = APIRouter(tags=["service"])


@router.get(
    "/health",
    summary="Is a snapshot being served, and how old is it (no key needed)",
    responses={200: {"model": Health}, 503: {"model": NoSnapshot, "description": "No snapshot is published yet."}},
)
def health(request: Request, snapshot: Snapshot) -> JSONResponse:
    try:
        with snapshot() as (cur, published_at):
            tables = cur.execute("select count(*) from meta.tables").fetchone()[0]
    except SnapshotMissing as exc:
        return JSONResponse({"status": "no_snapshot", "detail": str(exc)}, status_code=503)
    age = (dt.datetime.now(dt.UTC) - published_at).total_seconds() if published_at else None
    return JSONResponse(
        {
            "status": "ok",
            "published_at": jsonable(published_at),
            "age_seconds": round(age, 1) if age is not None else None,
            "tables": int(tables),
            "snapshot_reopened": request.app.state.reader.reopened,
        }
    )
