"""Reading the snapshot for a response: parameterised filters, stable pages, JSON-ready values."""

from __future__ import annotations

import datetime as dt
import decimal
import math
import uuid

import duckdb
from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


def jsonable(value: object) -> object:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        return float(value) if value.is_finite() else None
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.isoformat() + "Z"  # the warehouse's timestamps are UTC: say so (RFC 3339)
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value


def invalid_parameter(name: str, message: str, where: str = "query") -> RequestValidationError:
    """A parameter the route's types accept but its meaning does not: answered like any invalid one (422)."""
    return RequestValidationError([{"loc": (where, name), "msg": message, "type": "value_error"}])


def records(cur: duckdb.DuckDBPyConnection, sql: str, params: list) -> list[dict]:
    """Run a parameterised query; rows as JSON-ready dicts."""
    rows = cur.execute(sql, params).fetchall()
    names = [d[0] for d in cur.description]
    return [{n: jsonable(v) for n, v in zip(names, row)} for row in rows]


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
            raise invalid_parameter("start", f"{start} is after end {end}")
        return self.when(start, f"{column} >= ?").when(end, f"{column} <= ?")

    def moved_inside(self) -> Filters:
        """The parameters alone, for a relation whose subquery already holds these conditions."""
        outer = Filters()
        outer.params = list(self.params)
        return outer

    @property
    def sql(self) -> str:
        return (" where " + " and ".join(self.conditions)) if self.conditions else ""


def page(
    cur: duckdb.DuckDBPyConnection,
    relation: str,
    filters: Filters,
    order: str,
    limit: int,
    offset: int,
    published_at: object,
) -> JSONResponse:
    """One page of `relation` (a table name or a subquery fixed by the code) in a stable order.

    Returned as a ready JSONResponse: the values are already JSON types, so FastAPI's generic
    encoder (slow on a thousand rows) is skipped."""
    total = cur.execute(f"select count(*) from {relation}{filters.sql}", filters.params).fetchone()[0]
    items = records(
        cur,
        f"select * from {relation}{filters.sql} order by {order} limit ? offset ?",
        [*filters.params, limit, offset],
    )
    return JSONResponse(
        {
            "items": items,
            "count": len(items),
            "total": int(total),
            "limit": limit,
            "offset": offset,
            "next_offset": offset + limit if offset + limit < total else None,
            "published_at": jsonable(published_at),
        }
    )


def has_table(cur: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return (
        cur.execute(
            "select count(*) from information_schema.tables where table_catalog = current_database() "
            "and table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchone()[0]
        > 0
    )


def columns_of(cur: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    return [
        c
        for (c,) in cur.execute(
            "select column_name from information_schema.columns where table_catalog = current_database() "
            "and table_schema = ? and table_name = ? order by ordinal_position",
            [schema, table],
        ).fetchall()
    ]


def require_table(cur: duckdb.DuckDBPyConnection, schema: str, table: str, produced_by: str) -> None:
    if not has_table(cur, schema, table):
        raise HTTPException(
            404,
            f"{schema}.{table} is not in the serving snapshot yet: {produced_by} has not "
            "produced it (materialise it, then service/serving_snapshot)",
        )
