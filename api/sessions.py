"""Signing in to the review page and the console: server-side sessions, a guarded login form.

The browser never holds a key. Signing in with a key opens a session: a
random 256-bit id goes into the ``rm_session`` cookie (HttpOnly,
SameSite=Strict, path ``/``, ``Secure`` by default unless the connection is
plain HTTP on loopback), and only its SHA-256 is stored in ``api_sessions``
with the key it stands for and its expiry (``[api] session_hours``, 12 by
default). A session stops working when it expires, when its owner signs out
and when its key is revoked (the lookup joins the key, and
:func:`api.keys.revoke_key` also ends the key's sessions).

The login form carries a token equal to a random ``rm_login`` cookie
(SameSite=Strict, so a form posted from another site arrives without it),
and a POST whose ``Origin`` is another site is refused too: nobody can sign a
reviewer in under a key of their choosing. Failed sign-ins are counted per
client address: after :data:`MAX_FAILURES` within :data:`WINDOW_SECONDS`,
further attempts get 429 until the oldest failure ages out. The failures are
rows in ``login_failures``, so every server process (``serve --workers N``)
counts the same ones.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from litestar.connection import ASGIConnection
from sqlalchemy import delete, select, update
from sqlmodel import Session

from api.keys import TOUCH_EVERY, Caller
from responsemaster.config import is_loopback_host
from responsemaster.store.base import clip, utcnow
from responsemaster.store.platform import ApiKey, ApiSession, LoginFailure

COOKIE = "rm_session"
LOGIN_COOKIE = "rm_login"
MAX_FAILURES = 5
WINDOW_SECONDS = 15 * 60
#: Expired or ended sessions are deleted this long after they stopped working (at the next sign-in).
KEEP_ENDED = timedelta(days=7)


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "replace")).hexdigest()


def open_session(db: Session, caller: Caller, client: str, hours: float, now: datetime | None = None) -> str:
    """Store a new session for ``caller`` and return its id (for the cookie; never stored in clear)."""
    now = now or utcnow()
    session_id = secrets.token_urlsafe(32)
    db.add(ApiSession(id_hash=_digest(session_id), key_id=caller.key_id, created_at=now,
                      expires_at=now + timedelta(hours=hours), client=clip(client, 64)))
    db.execute(delete(ApiSession).where(ApiSession.expires_at < now - KEEP_ENDED))  # type: ignore[arg-type]
    return session_id


def session_caller(db: Session, session_id: str, now: datetime | None = None) -> Caller | None:
    """Who a session id signs in, or None (unknown, ended, expired, or its key revoked). Read-only."""
    if not session_id or len(session_id) > 128:
        return None
    row = db.execute(select(ApiSession, ApiKey).join(ApiKey, ApiKey.id == ApiSession.key_id)
                     .where(ApiSession.id_hash == _digest(session_id))).first()
    if row is None:
        return None
    found, key = row
    now = now or utcnow()
    if found.revoked_at is not None or key.revoked_at is not None or found.expires_at <= now:
        return None
    stale = key.last_used_at is None or now - key.last_used_at > TOUCH_EVERY
    return Caller(key.name, key.scope, key.id or 0, stale)


def end_session(db: Session, session_id: str) -> bool:
    """Sign out: the session stops working at once. True when it was open."""
    done = db.execute(update(ApiSession).where(ApiSession.id_hash == _digest(session_id),  # type: ignore[arg-type]
                                               ApiSession.revoked_at.is_(None))  # type: ignore[union-attr]
                      .values(revoked_at=utcnow()))
    return bool(done.rowcount)


def retry_after(db: Session, client: str, now: datetime | None = None) -> float:
    """Seconds until ``client`` may try to sign in again (0: now)."""
    now = now or utcnow()
    window = timedelta(seconds=WINDOW_SECONDS)
    recent = db.execute(select(LoginFailure.at).where(LoginFailure.client == clip(client, 64),
                                                      LoginFailure.at > now - window)  # type: ignore[operator]
                        .order_by(LoginFailure.at.desc()).limit(MAX_FAILURES)).scalars().all()  # type: ignore[union-attr]
    if len(recent) < MAX_FAILURES:
        return 0.0
    return max(1.0, (min(recent) + window - now).total_seconds())


def record_failure(db: Session, client: str, now: datetime | None = None) -> None:
    """Count a failed sign-in; failures older than the window are deleted on the way (the table stays small)."""
    now = now or utcnow()
    db.add(LoginFailure(client=clip(client, 64), at=now))
    db.execute(delete(LoginFailure).where(LoginFailure.at < now - timedelta(seconds=WINDOW_SECONDS)))  # type: ignore[arg-type]


def clear_failures(db: Session, client: str) -> None:
    """A successful sign-in starts the client's count again."""
    db.execute(delete(LoginFailure).where(LoginFailure.client == clip(client, 64)))  # type: ignore[arg-type]


def over_https(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """True when the browser talks HTTPS to us: directly, or through a trusted proxy saying so."""
    if connection.scope.get("scheme") == "https":
        return True
    peer = connection.client.host if connection.client else ""
    proto = connection.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return proto == "https" and peer in connection.app.state.ctx.api.trusted_proxies


def cookie_secure(connection: ASGIConnection[Any, Any, Any, Any], configured: bool | None) -> bool:
    """``Secure`` for the session cookie: as configured, else on unless this is plain HTTP on loopback."""
    if configured is not None:
        return configured
    if over_https(connection):
        return True
    server = connection.scope.get("server") or ("", None)
    return not (server[1] is None or is_loopback_host(str(server[0])))


def same_origin(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """False when the browser says the request comes from another site (``Origin`` / ``Sec-Fetch-Site``).

    ``Origin: null`` says nothing: our pages' ``Referrer-Policy: no-referrer``
    makes browsers send it on their own form posts.
    """
    if connection.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = connection.headers.get("origin")
    if not origin or origin == "null":
        return True
    host = connection.headers.get("host", "")
    return origin.split("://", 1)[-1] == host
