"""Query and path parameter types shared by the routers: ISO dates, pagination, short identifiers."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Annotated

from fastapi import Query
from pydantic import BeforeValidator

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
