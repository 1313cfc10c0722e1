"""Who we mail: subscribers, lists, campaigns, and who we must never mail again.

Nothing here is ever deleted to prune. A pruned address keeps its row (its
status changes, with when and why) and gets a suppression row; the mailer
refuses every suppressed address, whatever its list membership says.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from responsemaster.store.base import text, ts


class SubscriberStatus(StrEnum):
    ACTIVE = "active"
    PRUNED = "pruned"
    UNSUBSCRIBED = "unsubscribed"
    COMPLAINED = "complained"
    BOUNCING = "bouncing"


#: Statuses the mailer must never send to.
NOT_MAILABLE = frozenset({SubscriberStatus.PRUNED, SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.COMPLAINED})


class Subscriber(SQLModel, table=True):
    """One address, unique case-insensitively through ``address_key``."""

    __tablename__ = "subscribers"
    __table_args__ = (
        UniqueConstraint("address_key", name="uq_subscribers_address_key"),
        Index("ix_subscribers_domain_status", "domain", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    #: As first given (display case kept).
    address: str = Field(max_length=320)
    #: Folded: the identity (see :func:`responsemaster.store.base.address_key`).
    address_key: str = Field(max_length=320)
    domain: str = Field(default="", max_length=255)
    name: str = Field(default="", max_length=255)
    status: str = Field(default=SubscriberStatus.ACTIVE, max_length=20, index=True)
    status_reason: str = Field(default="", max_length=255)
    status_changed_at: datetime | None = ts(nullable=True)
    #: Mailman-style score: weighted bounces, reset when stale or when the person writes.
    bounce_score: float = Field(default=0.0)
    last_bounce_at: datetime | None = ts(nullable=True)
    last_verdict_id: int | None = Field(default=None)
    last_category: str = Field(default="", max_length=32)
    last_verdict_at: datetime | None = ts(nullable=True)
    #: From a "moved" auto-reply: recorded for an operator, never applied.
    suggested_address: str = Field(default="", max_length=320)
    #: Where the row came from (import, api, returned-mail, mailer).
    origin: str = Field(default="", max_length=32)
    created_at: datetime = ts()
    updated_at: datetime = ts()


class MailingList(SQLModel, table=True):
    __tablename__ = "lists"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=255, unique=True)
    description: str = text()
    created_at: datetime = ts()


class ListMembership(SQLModel, table=True):
    __tablename__ = "list_members"
    __table_args__ = (UniqueConstraint("list_id", "subscriber_id", name="uq_list_members"),)

    id: int | None = Field(default=None, primary_key=True)
    list_id: int = Field(foreign_key="lists.id", index=True)
    subscriber_id: int = Field(foreign_key="subscribers.id", index=True)
    #: subscribed | unsubscribed (per list; the subscriber's status still rules).
    status: str = Field(default="subscribed", max_length=20)
    joined_at: datetime = ts()
    left_at: datetime | None = ts(nullable=True)


class Campaign(SQLModel, table=True):
    """A mailing: the VERP token names it, so returns are counted per campaign."""

    __tablename__ = "campaigns"

    id: int | None = Field(default=None, primary_key=True)
    #: The identifier carried in VERP tokens and Message-IDs.
    name: str = Field(max_length=255, unique=True)
    list_id: int | None = Field(default=None, foreign_key="lists.id", index=True)
    subject: str = Field(default="", max_length=998)
    template: str = Field(default="", max_length=255)
    #: draft | scheduled | sending | sent | cancelled
    status: str = Field(default="draft", max_length=20)
    scheduled_at: datetime | None = ts(nullable=True)
    started_at: datetime | None = ts(nullable=True)
    finished_at: datetime | None = ts(nullable=True)
    created_at: datetime = ts()


class Suppression(SQLModel, table=True):
    """An address the mailer must never send to again, with why and since when."""

    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("address_key", name="uq_suppressions_address_key"),)

    id: int | None = Field(default=None, primary_key=True)
    address: str = Field(max_length=320)
    address_key: str = Field(max_length=320)
    domain: str = Field(default="", max_length=255, index=True)
    #: hard_bounce | bounce_score | complaint | unsubscribe | manual ...
    reason: str = Field(max_length=64, index=True)
    since: datetime = ts(index=True)
    #: What decided it: ``message:<uid>``, ``api:<key name>``, ``import``...
    by: str = Field(default="", max_length=255)
    subscriber_id: int | None = Field(default=None, foreign_key="subscribers.id", index=True)
