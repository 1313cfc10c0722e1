"""Every table of the product, imported in one place so the metadata is complete."""

from __future__ import annotations

from sqlmodel import SQLModel

from responsemaster.store import console_indexes  # noqa: F401 - indexes on the tables below
from responsemaster.store.campaign_counts import CampaignDomainDeliveries, CampaignDomainVerdicts
from responsemaster.store.actions import ActionTaken, MessageClaim, OutboxItem, SourceState
from responsemaster.store.mailing import CampaignPlan, MailTemplate, SenderUsage, SubscriberFields
from responsemaster.store.messages import MessageVerdict, RawMessageRow, RecipientVerdictRow, ReviewItem
from responsemaster.store.platform import ApiKey, ApiSession, Delivery, OperationLog, SenderAccount
from responsemaster.store.subscribers import (
    Campaign,
    ListMembership,
    MailingList,
    Subscriber,
    SubscriberStatus,
    Suppression,
)

metadata = SQLModel.metadata

__all__ = [
    "ActionTaken",
    "ApiKey",
    "ApiSession",
    "Campaign",
    "CampaignDomainDeliveries",
    "CampaignDomainVerdicts",
    "CampaignPlan",
    "Delivery",
    "ListMembership",
    "MailTemplate",
    "MailingList",
    "MessageClaim",
    "MessageVerdict",
    "OperationLog",
    "OutboxItem",
    "RawMessageRow",
    "RecipientVerdictRow",
    "ReviewItem",
    "SenderAccount",
    "SenderUsage",
    "SourceState",
    "Subscriber",
    "SubscriberFields",
    "SubscriberStatus",
    "Suppression",
    "metadata",
]
