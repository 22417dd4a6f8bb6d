"""Dependencies the routers share: the snapshot lease of the running app."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request


def _lease(request: Request) -> Callable:
    return request.app.state.reader.lease


# `with snapshot() as (cursor, published_at):` reads one generation of the snapshot.
Snapshot = Annotated[Callable, Depends(_lease)]
