"""Who may call what: one guard reads the scope a handler needs from its ``opt``.

Controllers set ``opt={"scope": "read"}`` and write handlers override it with
``write`` or ``admin``; a handler without a scope is public (health, metrics,
unsubscribe, the OpenAPI schema). Keys come in ``Authorization: Bearer`` or
``X-API-Key`` and never in a query string (query strings end up in access
logs). The review page may also use the ``rm_key`` cookie it set at login
(HttpOnly, SameSite=Strict). A missing or wrong key is 401, a key with too
small a scope 403. Nothing here logs a key, or any part of one.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import time
from typing import Any

import anyio
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from api.keys import SCOPES, Caller, touch_key, verify_key
from api.log_redact import redact

logger = logging.getLogger("api.auth")
COOKIE = "rm_key"


class LoginRequired(NotAuthorizedException):
    """Raised for the review page: answered with a redirect to the login form."""


def presented_key(connection: ASGIConnection[Any, Any, Any, Any], cookie_ok: bool) -> str | None:
    header = connection.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    if key := connection.headers.get("x-api-key"):
        return key.strip()
    if cookie_ok:
        return connection.cookies.get(COOKIE)
    return None


async def require_scope(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """The guard: check the key against the scope in ``handler.opt`` and remember the caller."""
    needed = handler.opt.get("scope")
    if needed is None:
        return
    assert needed in SCOPES, f"{handler} declares an unknown scope {needed!r}"
    cookie_ok = bool(handler.opt.get("cookie_auth"))
    key = presented_key(connection, cookie_ok)
    failure = LoginRequired if cookie_ok else NotAuthorizedException
    if not key:
        raise failure("an API key is required (Authorization: Bearer <key> or X-API-Key)",
                      headers={"WWW-Authenticate": 'Bearer realm="responsemaster"'})
    ctx = connection.app.state.ctx
    caller = ctx.key_cache.get(key)
    if caller is None:
        caller = await anyio.to_thread.run_sync(_verify, ctx.store, key)
        if caller is not None:
            ctx.key_cache.put(key, caller)
    if caller is None:
        logger.info("rejected an API key for %s %s from %s", connection.scope.get("method", ""),
                    redact(connection.url.path), client_address(connection))
        raise failure("invalid or revoked API key", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    if not caller.allows(needed):
        raise PermissionDeniedException(f"this needs a key with scope {needed!r}; key {caller.name!r} has {caller.scope!r}")
    connection.state.caller = caller


class KeyCache:
    """Verified keys for a few seconds, so a busy client costs no database round trip per request.

    Keyed by the SHA-256 of the key (the clear key is not kept). Only successes
    are cached: a new key works at once; a revoked key stops working within
    ``ttl`` seconds (``[api] key_cache_seconds``, default 2; 0 disables).
    """

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[bytes, tuple[Caller, float]] = {}

    def get(self, key: str) -> Caller | None:
        if self.ttl <= 0:
            return None
        entry = self._entries.get(hashlib.sha256(key.encode("utf-8", "replace")).digest())
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def put(self, key: str, caller: Caller) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[hashlib.sha256(key.encode("utf-8", "replace")).digest()] = (caller, time.monotonic() + self.ttl)


def _verify(store: Any, key: str) -> Caller | None:
    with store.reader() as session:
        caller = verify_key(session, key)
    if caller is not None and caller.stale:
        with store.transaction() as session:
            touch_key(session, caller.key_id)
    return caller


def client_address(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The client's address; ``X-Forwarded-For`` only when the peer is a trusted proxy."""
    peer = connection.client.host if connection.client else ""
    trusted = connection.app.state.ctx.api.trusted_proxies
    forwarded = connection.headers.get("x-forwarded-for")
    if forwarded and peer in trusted:
        candidate = forwarded.split(",")[-1].strip()
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            return peer
    return peer or "unknown"


def csrf_token(key: str) -> str:
    """The review page's form token: derived from the login key, so nobody else can compute it."""
    return hmac.new(key.encode("utf-8"), b"responsemaster review csrf", hashlib.sha256).hexdigest()[:32]


def check_csrf(connection: ASGIConnection[Any, Any, Any, Any], token: str | None) -> None:
    """A cookie-authenticated form POST must carry the token (header-key callers need none)."""
    if presented_key(connection, cookie_ok=False):
        return
    key = connection.cookies.get(COOKIE) or ""
    if not token or not hmac.compare_digest(token, csrf_token(key)):
        raise PermissionDeniedException("the form token is missing or wrong: reload the page and try again")
