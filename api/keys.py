"""API keys: created and revoked from the CLI, stored hashed, checked in constant time.

A key reads ``rmk_<lookup>_<secret>``. ``lookup`` (12 base32 characters) is
public and finds the row without scanning; only a salted SHA-256 of the whole
key is stored (``<lookup>$<salt hex>$<digest hex>`` in ``api_keys.key_hash``).
Keys are 256-bit random strings, so a fast salted hash is enough: there is no
password to brute-force, and hashing stays cheap on every request. The
comparison is ``hmac.compare_digest``. The clear key is shown once, at
creation, and never stored or logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlmodel import Session

from responsemaster.store.base import utcnow
from responsemaster.store.platform import ApiKey, ApiSession

SCOPES = ("read", "write", "admin")
_RANK = {scope: rank for rank, scope in enumerate(SCOPES)}
_KEY_SHAPE = re.compile(r"rmk_([a-z2-7]{12})_([A-Za-z0-9_-]{43})")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}")
#: ``last_used_at`` is written at most this often per key (no write per request).
TOUCH_EVERY = timedelta(minutes=1)


class KeyError_(ValueError):
    """A key operation that cannot be done (duplicate name, unknown key...)."""


@dataclass(frozen=True)
class Caller:
    """Who is calling: the key's name and scope (never the key itself)."""

    name: str
    scope: str
    #: Row id, and whether ``last_used_at`` is old enough to be written again.
    key_id: int = 0
    stale: bool = False

    def allows(self, needed: str) -> bool:
        return _RANK[self.scope] >= _RANK[needed]

    @property
    def actor(self) -> str:
        return f"key:{self.name}"


def _digest(salt: bytes, key: str) -> str:
    return hashlib.sha256(salt + key.encode("ascii")).hexdigest()


def _stored(lookup: str, key: str) -> str:
    salt = secrets.token_bytes(16)
    return f"{lookup}${salt.hex()}${_digest(salt, key)}"


def new_key() -> tuple[str, str]:
    """A fresh ``(key, lookup)`` pair."""
    lookup = base64.b32encode(secrets.token_bytes(10)).decode("ascii").lower()[:12]
    return f"rmk_{lookup}_{secrets.token_urlsafe(32)}", lookup


def create_key(session: Session, name: str, scope: str) -> str:
    """Create key ``name`` with ``scope`` and return the clear key (shown once)."""
    if scope not in SCOPES:
        raise KeyError_(f"scope must be one of {', '.join(SCOPES)}, not {scope!r}")
    if not _NAME.fullmatch(name):
        raise KeyError_("a key name is 1-128 letters, digits, '_', '.', '@' or '-'")
    if session.execute(select(ApiKey).where(ApiKey.name == name)).scalars().first() is not None:
        raise KeyError_(f"an API key named {name!r} already exists (revoked keys keep their name)")
    key, lookup = new_key()
    session.add(ApiKey(name=name, key_hash=_stored(lookup, key), scope=scope))
    session.flush()
    return key


def revoke_key(session: Session, name: str) -> ApiKey:
    """Revoke key ``name`` and end the review-page/console sessions it opened; the rows stay for the audit trail."""
    row = session.execute(select(ApiKey).where(ApiKey.name == name)).scalars().first()
    if row is None:
        raise KeyError_(f"no API key named {name!r}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
    session.execute(update(ApiSession).where(ApiSession.key_id == row.id, ApiSession.revoked_at.is_(None))  # type: ignore[arg-type,union-attr]
                    .values(revoked_at=utcnow()))
    return row


def verify_key(session: Session, presented: str, now: datetime | None = None) -> Caller | None:
    """The caller a presented key belongs to, or None (unknown, malformed, wrong or revoked).

    Read-only, so it runs in a reader session; see :func:`touch_key`.
    """
    match = _KEY_SHAPE.fullmatch(presented.strip())
    if match is None:
        return None
    lookup = match.group(1)
    rows = session.execute(
        select(ApiKey).where(ApiKey.key_hash.startswith(lookup + "$", autoescape=True))  # type: ignore[attr-defined]
    ).scalars()
    for row in rows:
        _lookup, salt_hex, digest = row.key_hash.split("$", 2)
        if hmac.compare_digest(_digest(bytes.fromhex(salt_hex), match.group(0)), digest):
            if row.revoked_at is not None:
                return None
            now = now or utcnow()
            stale = row.last_used_at is None or now - row.last_used_at > TOUCH_EVERY
            return Caller(row.name, row.scope, row.id or 0, stale)
    return None


def touch_key(session: Session, key_id: int) -> None:
    """Record that a key was used (called at most once a minute per key, see ``Caller.stale``)."""
    row = session.get(ApiKey, key_id)
    if row is not None:
        row.last_used_at = utcnow()
        session.add(row)
