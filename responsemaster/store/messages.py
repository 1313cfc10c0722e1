"""Returned mail as received, and what the classifier said about it.

A raw message row exists for every message that reached a verdict or
quarantine, keyed UNIQUE by (source, key): the database's answer to "have we
seen this one?" after a crash. Its bytes are kept on disk, content-addressed
under ``var/messages/<sha256 prefix>/``, so nothing is lost even when the
source's copy is moved away.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel

from responsemaster.store.base import text, ts


class RawMessageRow(SQLModel, table=True):
    __tablename__ = "raw_messages"
    __table_args__ = (
        UniqueConstraint("source", "key", name="uq_raw_messages_source_key"),
        Index("ix_raw_messages_source_sha256", "source", "sha256"),
        Index("ix_raw_messages_source_state", "source", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    #: Stable id: a hash of (source, key); what exports and Message-IDs use.
    uid: str = Field(max_length=40, unique=True)
    source: str = Field(max_length=255)
    key: str = Field(max_length=512)
    sha256: str = Field(max_length=64)
    size: int = Field(default=0)
    #: Kept copy, relative to the var directory.
    path: str = Field(default="", max_length=512)
    #: processed | quarantined
    state: str = Field(default="processed", max_length=16)
    error: str | None = text(nullable=True)
    #: Read by time only with its state first (ix_raw_messages_state_received, store.hygiene_counts).
    received_at: datetime = ts()


class MessageVerdict(SQLModel, table=True):
    """The message-level verdict (one per raw message)."""

    __tablename__ = "message_verdicts"
    __table_args__ = (
        Index("ix_message_verdicts_category_created", "category", "created_at"),
        Index("ix_message_verdicts_domain_created", "domain", "created_at"),
        Index("ix_message_verdicts_campaign_category", "campaign", "category"),
        # By subscriber: ix_message_verdicts_subscriber_created (store.hygiene_counts), which begins with it.
    )

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(
        sa_column=Column(Integer, ForeignKey("raw_messages.id"), nullable=False, unique=True)
    )
    #: "" for a failure verdict (``error`` set, ``reason`` its kind, message quarantined): no category.
    category: str = Field(max_length=32)
    reason: str = Field(default="", max_length=64)
    confidence: float = Field(default=0.0)
    decided_by: str = Field(default="", max_length=255)
    #: Attribution: who, which campaign, how we know.
    subscriber: str = Field(default="", max_length=320)
    subscriber_key: str = Field(default="", max_length=320)
    domain: str = Field(default="", max_length=255)
    campaign: str = Field(default="", max_length=255)
    via: str = Field(default="none", max_length=16)
    forged_token: bool = Field(default=False)
    error: str | None = text(nullable=True)
    subject: str = text()
    sender: str = Field(default="", max_length=998)
    header_message_id: str = Field(default="", max_length=998)
    suggested_address: str = Field(default="", max_length=320)
    feedback_type: str = Field(default="", max_length=64)
    reply_text: str = text()
    created_at: datetime = ts()


class RecipientVerdictRow(SQLModel, table=True):
    """One failed (or reported) recipient of a DSN, with what decided it."""

    __tablename__ = "recipient_verdicts"
    __table_args__ = (
        Index("ix_recipient_verdicts_address_key", "address_key"),
        Index("ix_recipient_verdicts_category_created", "category", "created_at"),
        Index("ix_recipient_verdicts_domain_category", "domain", "category"),
        UniqueConstraint("verdict_id", "position", name="uq_recipient_verdicts_position"),
    )

    id: int | None = Field(default=None, primary_key=True)
    #: Looked up through the unique (verdict_id, position), which begins with it (migration 0011).
    verdict_id: int = Field(sa_column=Column(Integer, ForeignKey("message_verdicts.id"), nullable=False))
    position: int = Field(default=0)
    address: str = Field(default="", max_length=320)
    address_key: str = Field(default="", max_length=320)
    domain: str = Field(default="", max_length=255)
    category: str = Field(max_length=32)
    reason: str = Field(default="", max_length=64)
    status: str = Field(default="", max_length=16)
    reply_code: str = Field(default="", max_length=8)
    remote_mta: str = Field(default="", max_length=255)
    diagnostic: str = text()
    final_recipient: str = Field(default="", max_length=320)
    action: str = Field(default="", max_length=16)
    #: The SMTP command the remote server rejected (RCPT, MAIL, DATA...; migration 0005).
    command: str = Field(default="", max_length=16, sa_column_kwargs={"server_default": ""})
    decided_by: str = Field(default="", max_length=255)
    created_at: datetime = ts()


class ReviewItem(SQLModel, table=True):
    """A routed reply waiting for a person; relabels flow back to training data."""

    __tablename__ = "review_items"
    __table_args__ = (Index("ix_review_items_state_created", "state", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(sa_column=Column(Integer, ForeignKey("raw_messages.id"), nullable=False, unique=True))
    category: str = Field(max_length=32)
    confidence: float = Field(default=0.0)
    #: open | resolved
    state: str = Field(default="open", max_length=16)
    relabelled_to: str = Field(default="", max_length=32)
    resolved_by: str = Field(default="", max_length=255)
    resolved_at: datetime | None = ts(nullable=True)
    note: str = text()
    created_at: datetime = ts()
