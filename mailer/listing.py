"""What exists: lists, templates and campaigns, one summary row each (``mailer lists`` etc.).

Each is one grouped query, so listing stays cheap however long the lists are.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, case, func, select
from sqlmodel import Session

from responsemaster.store.mailing import CampaignPlan, MailTemplate
from responsemaster.store.platform import Delivery
from responsemaster.store.subscribers import (
    NOT_MAILABLE,
    Campaign,
    ListMembership,
    MailingList,
    Subscriber,
    Suppression,
)


def lists(session: Session) -> list[dict[str, Any]]:
    """Every list: members still subscribed, and how many of them may be mailed today."""
    subscribed = ListMembership.status == "subscribed"
    mailable = and_(subscribed, Subscriber.status.not_in(list(NOT_MAILABLE)), Suppression.id.is_(None))  # type: ignore[attr-defined,union-attr]
    stmt = (
        select(MailingList.name, func.count(case((subscribed, 1))), func.count(case((mailable, 1))), MailingList.created_at)
        .outerjoin(ListMembership, ListMembership.list_id == MailingList.id)
        .outerjoin(Subscriber, Subscriber.id == ListMembership.subscriber_id)
        .outerjoin(Suppression, Suppression.address_key == Subscriber.address_key)
        .group_by(MailingList.id, MailingList.name, MailingList.created_at)
        .order_by(MailingList.name)
    )
    return [{"name": name, "subscribed": int(members), "mailable": int(ok), "created_at": created}
            for name, members, ok, created in session.execute(stmt)]


def templates(session: Session) -> list[dict[str, Any]]:
    stmt = select(MailTemplate.name, MailTemplate.subject, MailTemplate.html, MailTemplate.text_body,
                  MailTemplate.updated_at).order_by(MailTemplate.name)
    return [{"name": name, "subject": subject, "parts": "+".join(p for p, body in (("html", html), ("text", text)) if body),
             "updated_at": updated} for name, subject, html, text, updated in session.execute(stmt)]


def campaigns(session: Session) -> list[dict[str, Any]]:
    """Every campaign: its list, template, status, limit (0: the whole list) and what its log holds."""
    counted = Delivery.status != "suppressed"
    per_campaign = (
        select(Delivery.campaign_id, func.count(case((counted, 1))).label("recipients"),
               func.count(case((Delivery.status == "sent", 1))).label("sent"))
        .group_by(Delivery.campaign_id).subquery()
    )
    stmt = (
        select(Campaign.id, Campaign.name, MailingList.name, Campaign.template, Campaign.status,
               CampaignPlan.recipient_limit, per_campaign.c.recipients, per_campaign.c.sent, Campaign.created_at)
        .outerjoin(MailingList, MailingList.id == Campaign.list_id)
        .outerjoin(CampaignPlan, CampaignPlan.campaign_id == Campaign.id)
        .outerjoin(per_campaign, per_campaign.c.campaign_id == Campaign.id)
        .order_by(Campaign.id)
    )
    return [{"id": cid, "name": name, "list": list_name or "", "template": template, "status": status,
             "limit": limit or 0, "recipients": int(recipients or 0), "sent": int(sent or 0), "created_at": created}
            for cid, name, list_name, template, status, limit, recipients, sent, created in session.execute(stmt)]
