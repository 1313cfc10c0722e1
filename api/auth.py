"""Who may call what: one guard reads the scope a handler needs from its ``opt``; pages use sessions.

Controllers set ``opt={"scope": "read"}`` and write handlers override it with
``write`` or ``admin``; a handler without a scope is public (health, metrics,
unsubscribe, the OpenAPI schema). A missing or wrong credential is 401, a
scope too small 403. Nothing here logs a key, a session id, or any part of one.

Two kinds of caller:

* programs send a key in ``Authorization: Bearer`` or ``X-API-Key``, never
  in a query string (query strings end up in access logs);
* people sign in once at ``/review/login`` and then carry the ``rm_session``
  cookie: a server-side session (:mod:`api.sessions`), never the key.

**The page interface** (the review page uses it; the operator console at
``/console`` uses the same, so keep it stable):

* a page controller sets ``opt=PAGE_OPT`` (``{"scope": "read", "cookie_auth":
  True}``) and raises the scope per handler (``opt={"scope": "write"}``);
  the session cookie (or a key header) is then accepted, and a visitor
  without one is redirected to ``/review/login?next=<path>`` (``next`` may be
  any ``/review`` or ``/console`` path);
* in the handler, ``signed_in(request)`` (or ``request.state.caller``) is the
  :class:`~api.keys.Caller`: ``.name``, ``.scope``, ``.allows("write")`` and
  ``.actor`` (``key:<name>``, what the operation log records);
* every form that changes something carries ``form_token(request)`` in a
  hidden ``csrf`` field, and its handler calls ``check_csrf(request,
  data.get("csrf"))`` first (a 403 when it is missing or wrong; callers with
  a key header need none). ``csrf_token(session_id)`` is the same token for
  code that holds the cookie value;
* sign-out is ``POST /review/logout`` with the ``csrf`` field.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import time
from collections.abc import Callable
from typing import Any

import anyio
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from api.keys import SCOPES, Caller, touch_key, verify_key
from api.log_redact import redact
from api.sessions import COOKIE, session_caller

logger = logging.getLogger("api.auth")
#: A page controller's ``opt``: readers may look; raise ``scope`` per handler for changes.
PAGE_OPT: dict[str, Any] = {"scope": "read", "cookie_auth": True}
LOGIN_PATH = "/review/login"


class LoginRequired(NotAuthorizedException):
    """Raised for pages: answered with a redirect to the login form."""


def presented_key(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The key in ``Authorization: Bearer`` or ``X-API-Key`` (never a cookie, never the query string)."""
    header = connection.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    if key := connection.headers.get("x-api-key"):
        return key.strip()
    return None


async def require_scope(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """The guard: check the key or session against the scope in ``handler.opt`` and remember the caller."""
    needed = handler.opt.get("scope")
    if needed is None:
        return
    assert needed in SCOPES, f"{handler} declares an unknown scope {needed!r}"
    cookie_ok = bool(handler.opt.get("cookie_auth"))
    failure = LoginRequired if cookie_ok else NotAuthorizedException
    ctx = connection.app.state.ctx
    key = presented_key(connection)
    session_id = connection.cookies.get(COOKIE) if cookie_ok and not key else None
    if not key and not session_id:
        raise failure("an API key is required (Authorization: Bearer <key> or X-API-Key)",
                      headers={"WWW-Authenticate": 'Bearer realm="responsemaster"'})
    if session_id:
        caller = await anyio.to_thread.run_sync(_look_up, ctx.store, lambda db: session_caller(db, session_id))
    else:
        assert key is not None
        caller = ctx.key_cache.get(key)
        if caller is None:
            caller = await anyio.to_thread.run_sync(_look_up, ctx.store, lambda db: verify_key(db, key))
            if caller is not None:
                ctx.key_cache.put(key, caller)
    if caller is None:
        logger.info("rejected %s for %s %s from %s", "a session" if session_id else "an API key",
                    connection.scope.get("method", ""), redact(connection.url.path), client_address(connection))
        raise failure("invalid or revoked API key, or the session ended",
                      headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    if not caller.allows(needed):
        raise PermissionDeniedException(f"this needs a key with scope {needed!r}; key {caller.name!r} has {caller.scope!r}")
    connection.state.caller = caller


def signed_in(connection: ASGIConnection[Any, Any, Any, Any]) -> Caller:
    """The caller a guarded handler runs for (set by :func:`require_scope`)."""
    caller = getattr(connection.state, "caller", None)
    assert caller is not None, "a guarded handler runs only after require_scope set the caller"
    return caller


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


def _look_up(store: Any, find: Callable[[Any], Caller | None]) -> Caller | None:
    """``find(session)`` in a read session; the key's last use is written at most once a minute."""
    with store.reader() as session:
        caller = find(session)
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


def csrf_token(session_id: str) -> str:
    """A page form's token: derived from the session id, which only the signed-in browser holds."""
    return hmac.new(session_id.encode("utf-8"), b"responsemaster review csrf", hashlib.sha256).hexdigest()[:32]


def form_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The token the current page's forms must carry (``""`` for a caller with a key header)."""
    session_id = connection.cookies.get(COOKIE)
    return csrf_token(session_id) if session_id and not presented_key(connection) else ""


def check_csrf(connection: ASGIConnection[Any, Any, Any, Any], token: str | None) -> None:
    """A cookie-authenticated form POST must carry the token (header-key callers need none)."""
    if presented_key(connection):
        return
    session_id = connection.cookies.get(COOKIE) or ""
    if not session_id or not token or not hmac.compare_digest(token, csrf_token(session_id)):
        raise PermissionDeniedException("the form token is missing or wrong: reload the page and try again")
