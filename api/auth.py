"""API keys on requests: where a key may be presented, and the scope dependency every /v1 route uses."""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable
from typing import Annotated

from fastapi import HTTPException, Request, Security
from fastapi.security import APIKeyHeader

from api.keys import allows, find_key, mask

log = logging.getLogger("dmp.api")

_api_key = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="API key (or `Authorization: Bearer <key>`); see docs/serving.md for scopes.",
)


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


def require(scope: str, browser: bool = False) -> Callable:
    """A dependency admitting requests whose key (from the app's key table) has `scope`."""
    challenge = {"WWW-Authenticate": 'Basic realm="dmp"' if browser else "ApiKey"}

    def check(request: Request, header_key: Annotated[str | None, Security(_api_key)] = None) -> None:
        presented = _presented_key(header_key, request.headers.get("authorization"))
        if not presented:
            raise HTTPException(401, "an API key is required: send it in the X-API-Key header", headers=challenge)
        scopes = find_key(request.app.state.keys, presented)
        if scopes is None:
            log.warning("rejected unknown API key %s on %s", mask(presented), request.url.path)
            raise HTTPException(401, "unknown API key", headers=challenge)
        if not allows(scopes, scope):
            log.info("key %s lacks scope %s for %s", mask(presented), scope, request.url.path)
            raise HTTPException(403, f"this API key does not have the '{scope}' scope")

    return check
