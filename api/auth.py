"""API keys on requests: where a key may be presented, and the scope dependency every /v1 route uses."""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable
from typing import Annotated

from fastapi import HTTPException, Request, Security
from fastapi.openapi.models import HTTPBase
from fastapi.security import APIKeyHeader
from fastapi.security.base import SecurityBase

from api.keys import allows, find_key, mask

log = logging.getLogger("dmp.api")

_api_key = APIKeyHeader(
    name="X-API-Key",
    scheme_name="ApiKey",
    auto_error=False,
    description="The API key in the X-API-Key header; see docs/serving.md for scopes.",
)


class _DeclaredScheme(SecurityBase):
    """An accepted way of presenting the key, declared in the OpenAPI document; the key itself is read
    by `require` from the Authorization header, so a malformed header is one clear 401, not the
    library's own error."""

    def __init__(self, scheme: str, name: str, description: str) -> None:
        self.model = HTTPBase(scheme=scheme, description=description)
        self.scheme_name = name
        self.auto_error = False

    async def __call__(self, request: Request) -> None:
        return None


_bearer = _DeclaredScheme("bearer", "BearerKey", "The API key as a bearer token: `Authorization: Bearer <key>`.")
# Declared on /dashboard, where a browser's Basic prompt sends the key (read by `require(..., browser=True)`).
BASIC = _DeclaredScheme(
    "basic", "BasicKey", "For browsers (the dashboard): the API key as the password (or the user name)."
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

    def check(
        request: Request,
        header_key: Annotated[str | None, Security(_api_key)] = None,
        _bearer_declared: None = Security(_bearer),
    ) -> None:
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
