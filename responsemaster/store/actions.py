"""What the router did, what it still has to do outside, and who holds what.

``actions`` is the log of every disposition, UNIQUE by its idempotency key
(``<message uid>:<disposition>:<target>``), so applying one twice is
impossible. ``outbox`` holds external effects (forward, alert, webhook)
written in the same transaction as the verdict and delivered after commit
under a lease. ``message_claims`` lets several workers share a source and
counts attempts so a message that keeps crashing its worker is quarantined.
``source_state`` keeps the last error per source for ``status``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, Integer
from sqlmodel import Field, SQLModel

from responsemaster.store.base import text, ts


class ActionTaken(SQLModel, table=True):
    __tablename__ = "actions"
    __table_args__ = (
        Index("ix_actions_disposition_target_created", "disposition", "target", "created_at"),
        Index("ix_actions_message", "message_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(sa_column=Column(Integer, ForeignKey("raw_messages.id"), nullable=False))
    disposition: str = Field(max_length=32)
    #: The address, folder, URL... the action concerns.
    target: str = Field(default="", max_length=512)
    #: done | queued | skipped | flagged | pending (a prune waiting for a person) | cancelled
    status: str = Field(default="done", max_length=16)
    detail: str = text()
    idempotency_key: str = Field(max_length=700, unique=True)
    created_at: datetime = ts()


class OutboxItem(SQLModel, table=True):
    """An external effect to deliver after commit, at most one holder at a time."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_state_next", "state", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    action_id: int = Field(sa_column=Column(Integer, ForeignKey("actions.id"), nullable=False, index=True))
    #: forward | alert | webhook
    kind: str = Field(max_length=16)
    idempotency_key: str = Field(max_length=700, unique=True)
    payload: str = text()
    #: pending | done | dead
    state: str = Field(default="pending", max_length=16)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = ts()
    lease_owner: str = Field(default="", max_length=128)
    lease_until: datetime | None = ts(nullable=True)
    last_error: str = text()
    created_at: datetime = ts()
    done_at: datetime | None = ts(nullable=True)


class MessageClaim(SQLModel, table=True):
    """A worker's lease on one source message, and how often it was attempted."""

    __tablename__ = "message_claims"

    source: str = Field(max_length=255, primary_key=True)
    key: str = Field(max_length=512, primary_key=True)
    owner: str = Field(default="", max_length=128)
    lease_until: datetime = ts()
    attempts: int = Field(default=0)
    last_error: str = text()


class SourceState(SQLModel, table=True):
    """Per source: the last batch and the last error, for ``responsemaster status``."""

    __tablename__ = "source_state"

    name: str = Field(max_length=255, primary_key=True)
    last_batch_at: datetime | None = ts(nullable=True)
    last_error: str = text()
    last_error_at: datetime | None = ts(nullable=True)
