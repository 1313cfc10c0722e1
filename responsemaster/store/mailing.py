"""The mailer's own tables: templates, personalisation fields, campaign plans, relay usage.

Kept beside (not inside) the shared tables so the mailer can grow without
touching the return-path loop's schema:

- ``mail_templates``: a campaign is rendered from a stored copy, so a
  scheduled send renders exactly what was checked at scheduling time.
- ``subscriber_fields``: extra CSV columns (first_name, city, ...) as JSON,
  one row per subscriber, for personalisation.
- ``campaign_plans``: what a campaign sends and to how many (the chosen
  number of a list's addresses), and who it comes from.
- ``sender_usage``: messages sent per relay per UTC hour; hourly and daily
  quotas are read from it, so several processes sharing a relay share its quota.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Integer
from sqlmodel import Field, SQLModel

from responsemaster.store.base import UTCDateTime, text, ts


class MailTemplate(SQLModel, table=True):
    __tablename__ = "mail_templates"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=255, unique=True)
    #: A Jinja2 template too (personalised subjects).
    subject: str = text()
    html: str = text()
    text_body: str = text()
    created_at: datetime = ts()
    updated_at: datetime = ts()


class SubscriberFields(SQLModel, table=True):
    """Personalisation data for one subscriber: a JSON object of string values."""

    __tablename__ = "subscriber_fields"

    subscriber_id: int = Field(
        sa_column=Column(Integer, ForeignKey("subscribers.id"), primary_key=True, autoincrement=False)
    )
    data: str = text(default="{}")
    updated_at: datetime = ts()


class CampaignPlan(SQLModel, table=True):
    """How a campaign is sent; one row per campaign."""

    __tablename__ = "campaign_plans"

    campaign_id: int = Field(
        sa_column=Column(Integer, ForeignKey("campaigns.id"), primary_key=True, autoincrement=False)
    )
    template_id: int = Field(sa_column=Column(Integer, ForeignKey("mail_templates.id"), nullable=False))
    from_address: str = Field(default="", max_length=320)
    reply_to: str = Field(default="", max_length=320)
    #: Send to at most this many of the list's addresses (0: all of them).
    recipient_limit: int = Field(default=0)
    #: The Huey task id of a scheduled send (to revoke it when rescheduled).
    task_id: str = Field(default="", max_length=64)
    last_error: str = text()
    #: Who paused the campaign by hand (``key:<name>``...); "" when not paused by a person (migration 0007).
    #: A run stops between batches when it is set, and a scheduled or continued run does not start.
    paused_by: str = Field(default="", max_length=255, sa_column_kwargs={"server_default": ""})
    #: The process running the send, and until when; a crashed run's lease expires.
    lease_owner: str = Field(default="", max_length=128)
    lease_until: datetime | None = ts(nullable=True)


class SenderUsage(SQLModel, table=True):
    """Messages accepted by one relay account during one UTC hour."""

    __tablename__ = "sender_usage"

    account_id: int = Field(
        sa_column=Column(Integer, ForeignKey("sender_accounts.id"), primary_key=True, autoincrement=False)
    )
    hour: datetime = Field(sa_column=Column("hour", UTCDateTime(), primary_key=True))
    sent: int = Field(default=0)
