"""Campaign analytics: what was sent, what failed, and what came back, per campaign and per domain.

Two sources, joined by the campaign the VERP token names:

- the delivery log (``deliveries``): sent, failed at send time, deferred,
  uncertain, suppressed;
- the verdicts (``message_verdicts`` with their raw message's source):
  returned bounces by category, auto-replies, human replies, complaints and
  unsubscribe requests. Send-time refusals are verdicts too (source
  ``mailer``); they are counted under ``failed_at_send`` and not again as
  returned bounces.

A verdict names its campaign by name when the token reader resolved it, or
by database id otherwise; both are matched. These are the numbers the API
exposes; every query is an aggregate, so they stay cheap on large lists.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select
from sqlmodel import Session

from responsemaster.store.messages import MessageVerdict, RawMessageRow
from responsemaster.store.platform import Delivery
from responsemaster.store.subscribers import Campaign, Suppression

BOUNCES = ("hard_bounce", "soft_bounce", "mailbox_full", "mail_block", "message_restriction")
SEND_SOURCE = "mailer"


def _verdict_rows(session: Session, campaign: Campaign, by_domain: bool) -> list[tuple[Any, ...]]:
    columns = [MessageVerdict.category, RawMessageRow.source == SEND_SOURCE]
    if by_domain:
        columns.insert(0, MessageVerdict.domain)
    stmt = (select(*columns, func.count()).join(RawMessageRow, RawMessageRow.id == MessageVerdict.message_id)
            .where(or_(MessageVerdict.campaign == campaign.name, MessageVerdict.campaign == str(campaign.id)))
            .group_by(*columns))
    return [tuple(row) for row in session.execute(stmt)]


def _empty() -> dict[str, Any]:
    return {"recipients": 0, "sent": 0, "failed_at_send": 0, "failed_at_send_by_category": {}, "deferred": 0,
            "queued": 0, "uncertain": 0, "suppressed": 0, "bounced": 0, "bounced_by_category": {},
            "auto_replies": 0, "human_replies": 0, "complaints": 0, "unsubscribes": 0}


def _add_delivery(entry: dict[str, Any], status: str, count: int) -> None:
    entry["recipients"] += count
    key = {"failed": "failed_at_send", "sending": "uncertain"}.get(status, status)
    if key in entry:
        entry[key] += count


def _add_verdict(entry: dict[str, Any], category: str, at_send: bool, count: int) -> None:
    if at_send:
        by = entry["failed_at_send_by_category"]
        by[category] = by.get(category, 0) + count
    elif category in BOUNCES:
        entry["bounced"] += count
        entry["bounced_by_category"][category] = entry["bounced_by_category"].get(category, 0) + count
    elif category == "auto_reply":
        entry["auto_replies"] += count
    elif category in ("user_reply", "challenge_response"):
        entry["human_replies"] += count
    elif category == "feedback_loop":
        entry["complaints"] += count
    elif category == "unsubscribe_request":
        entry["unsubscribes"] += count


def campaign_stats(session: Session, campaign: Campaign) -> dict[str, Any]:
    """One campaign's totals, plus one-click/API unsubscribes of its recipients after they got it."""
    entry = _empty()
    for status, count in session.execute(select(Delivery.status, func.count())
                                         .where(Delivery.campaign_id == campaign.id).group_by(Delivery.status)):
        _add_delivery(entry, status, int(count))
    for category, at_send, count in _verdict_rows(session, campaign, by_domain=False):
        _add_verdict(entry, category, bool(at_send), int(count))
    entry["unsubscribes"] += _later_unsubscribes(session, campaign)
    return {"campaign": campaign.name, "id": campaign.id, "status": campaign.status, **entry}


def _later_unsubscribes(session: Session, campaign: Campaign) -> int:
    """Suppressions for unsubscribes not decided by a message (one-click, API) after this campaign reached them."""
    stmt = (select(func.count()).select_from(Suppression)
            .join(Delivery, Delivery.subscriber_id == Suppression.subscriber_id)
            .where(Delivery.campaign_id == campaign.id, Delivery.status == "sent",
                   Suppression.reason.in_(("unsubscribe", "unsubscribed", "one_click")),  # type: ignore[attr-defined]
                   Suppression.since >= Delivery.sent_at, ~Suppression.by.startswith("message:")))  # type: ignore[operator,union-attr]
    return int(session.execute(stmt).scalar_one())


def domain_stats(session: Session, campaign: Campaign) -> dict[str, dict[str, Any]]:
    """The same counts per recipient domain (verdicts by the concerned subscriber's domain)."""
    out: dict[str, dict[str, Any]] = {}
    rows = session.execute(select(Delivery.domain, Delivery.status, func.count())
                           .where(Delivery.campaign_id == campaign.id).group_by(Delivery.domain, Delivery.status))
    for domain, status, count in rows:
        _add_delivery(out.setdefault(domain, _empty()), status, int(count))
    for domain, category, at_send, count in _verdict_rows(session, campaign, by_domain=True):
        _add_verdict(out.setdefault(domain, _empty()), category, bool(at_send), int(count))
    return dict(sorted(out.items(), key=lambda item: -item[1]["recipients"]))


def all_campaign_stats(session: Session) -> list[dict[str, Any]]:
    campaigns = session.execute(select(Campaign).order_by(Campaign.id)).scalars().all()
    return [campaign_stats(session, c) for c in campaigns]
