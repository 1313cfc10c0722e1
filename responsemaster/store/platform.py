"""Tables the mailer and the HTTP API build on; designed now, filled later.

Kept minimal on purpose: the columns every later feature needs to stay
consistent with the return-path loop (a delivery names the campaign and the
subscriber a bounce will be attributed to; a good delivery can reset a bounce
score), and no more.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from responsemaster.store.base import text, ts


class Delivery(SQLModel, table=True):
    """The send log: one row per (campaign, subscriber)."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("campaign_id", "subscriber_id", name="uq_deliveries_campaign_subscriber"),
        Index("ix_deliveries_status_next", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaigns.id", index=True)
    subscriber_id: int = Field(foreign_key="subscribers.id", index=True)
    address: str = Field(max_length=320)
    domain: str = Field(default="", max_length=255, index=True)
    #: The VERP envelope sender and Message-ID that carry the token.
    return_path: str = Field(default="", max_length=320)
    message_id: str = Field(default="", max_length=998)
    #: queued | sent | deferred | failed | suppressed
    status: str = Field(default="queued", max_length=16)
    #: The relay (``[[mailer.relays]]`` name) that took the last attempt; "" before one did (migration 0007).
    relay: str = Field(default="", max_length=255, sa_column_kwargs={"server_default": ""})
    attempts: int = Field(default=0)
    next_attempt_at: datetime | None = ts(nullable=True)
    last_error: str = text()
    queued_at: datetime = ts()
    sent_at: datetime | None = ts(nullable=True)


class SenderAccount(SQLModel, table=True):
    """An SMTP relay the mailer may use; the secret stays in the environment."""

    __tablename__ = "sender_accounts"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=255, unique=True)
    host: str = Field(max_length=255)
    port: int = Field(default=587)
    username: str = Field(default="", max_length=255)
    #: Name of the environment variable holding the password, never the password.
    secret_env: str = Field(default="", max_length=255)
    from_address: str = Field(default="", max_length=320)
    max_per_hour: int = Field(default=0)
    created_at: datetime = ts()


class ApiKey(SQLModel, table=True):
    """An API key, stored hashed; revoked keys stay for the audit trail."""

    __tablename__ = "api_keys"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=255, unique=True)
    key_hash: str = Field(max_length=128, unique=True)
    #: read | write | admin
    scope: str = Field(default="read", max_length=16)
    created_at: datetime = ts()
    revoked_at: datetime | None = ts(nullable=True)
    last_used_at: datetime | None = ts(nullable=True)


class OperationLog(SQLModel, table=True):
    """Who changed what by hand (API, CLI, review page)."""

    __tablename__ = "operation_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = ts(index=True)
    actor: str = Field(default="", max_length=255)
    operation: str = Field(max_length=64)
    target: str = Field(default="", max_length=512)
    detail: str = text()


class LoginFailure(SQLModel, table=True):
    """A failed sign-in from a client address, kept for the throttle's window.

    In the database rather than in a process, so every server process
    (``serve --workers N``) counts the same failures: a client gets one budget.
    """

    __tablename__ = "login_failures"

    id: int | None = Field(default=None, primary_key=True)
    client: str = Field(max_length=64, index=True)
    at: datetime = ts(index=True)


class ApiSession(SQLModel, table=True):
    """A sign-in to the review page or the console: the browser holds a random id, only its hash is here.

    Valid while not revoked, not expired and its key not revoked; ended by
    signing out, by revoking the key, or by time (``[api] session_hours``).
    """

    __tablename__ = "api_sessions"

    id: int | None = Field(default=None, primary_key=True)
    #: SHA-256 (hex) of the id in the cookie: a copy of this table signs nobody in.
    id_hash: str = Field(max_length=64, unique=True)
    key_id: int = Field(foreign_key="api_keys.id", index=True)
    created_at: datetime = ts()
    expires_at: datetime = ts(index=True)
    revoked_at: datetime | None = ts(nullable=True)
    #: The client address at sign-in (for the operation log and the console).
    client: str = Field(default="", max_length=64)
