"""Campaign analytics: the mailer's numbers (``mailer.analytics``) plus returns per day and failures.

Without the mailer package (a deployment that only classifies another
mailer's returns), a small fallback counts deliveries and returns directly.

The mailer owns what "sent", "failed at send" and "bounced" mean for a
campaign, so its analytics module is called as is; this controller adds
rates, the day-by-day returns and the failures summary from the verdict
counts. A campaign is named by its name (the VERP token's campaign) or id.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from litestar import Controller, get
from sqlalchemy import or_, select

from api import counts, ranges
from api.context import Ctx
from api.controllers.common import API, ITEM_ERRORS, READ, READ_ERRORS, SECURITY, CampaignParam, not_found
from api.schemas import CampaignAnalytics, CampaignList
from api.strict_input import plain_id
from responsemaster.store.subscribers import Campaign


def _rates(stats: dict[str, Any]) -> dict[str, float]:
    sent = int(stats.get("sent") or 0)
    if not sent:
        return {}
    return {name: round(int(stats.get(key) or 0) / sent, 5) for name, key in (
        ("bounce_rate", "bounced"), ("complaint_rate", "complaints"), ("unsubscribe_rate", "unsubscribes"),
        ("reply_rate", "human_replies"), ("auto_reply_rate", "auto_replies"))}


def _analytics() -> tuple[Any, Any, Any]:
    """The mailer's analytics functions, or the small fallback below when the mailer is not installed."""
    try:
        from mailer.analytics import all_campaign_stats, campaign_stats, domain_stats
    except ImportError:
        return _all_fallback, _stats_fallback, lambda session, campaign: {}
    return all_campaign_stats, campaign_stats, domain_stats


def _stats_fallback(session: Any, campaign: Campaign) -> dict[str, Any]:
    """Deliveries by status and returns by category, straight from the tables."""
    from sqlalchemy import func

    from responsemaster.categories import BOUNCE_CATEGORIES
    from responsemaster.store.messages import MessageVerdict
    from responsemaster.store.platform import Delivery

    deliveries = dict(session.execute(select(Delivery.status, func.count()).where(Delivery.campaign_id == campaign.id)
                                      .group_by(Delivery.status)).all())
    returns = dict(session.execute(select(MessageVerdict.category, func.count())
                                   .where(MessageVerdict.campaign.in_((campaign.name, str(campaign.id))))  # type: ignore[attr-defined]
                                   .group_by(MessageVerdict.category)).all())
    return {"campaign": campaign.name, "id": campaign.id, "status": campaign.status,
            "recipients": sum(deliveries.values()), "sent": deliveries.get("sent", 0),
            "failed_at_send": deliveries.get("failed", 0), "deferred": deliveries.get("deferred", 0),
            "suppressed": deliveries.get("suppressed", 0),
            "bounced": sum(n for c, n in returns.items() if c in BOUNCE_CATEGORIES),
            "bounced_by_category": {c: n for c, n in returns.items() if c in BOUNCE_CATEGORIES},
            "auto_replies": returns.get("auto_reply", 0), "human_replies": returns.get("user_reply", 0),
            "complaints": returns.get("feedback_loop", 0), "unsubscribes": returns.get("unsubscribe_request", 0)}


def _all_fallback(session: Any) -> list[dict[str, Any]]:
    return [_stats_fallback(session, c) for c in session.execute(select(Campaign).order_by(Campaign.id)).scalars()]


def find_campaign(session: Any, name: str) -> Campaign | None:
    """By name, or by id when ``name`` is an id in plain ASCII digits (``isdigit()`` also takes ``²`` and ``٣``)."""
    cond = Campaign.name == name
    if (campaign_id := plain_id(name)) is not None:
        cond = or_(cond, Campaign.id == campaign_id)  # type: ignore[assignment]
    return session.execute(select(Campaign).where(cond)).scalars().first()


def _first_day(campaign: Campaign) -> date:
    start = campaign.started_at or campaign.scheduled_at or campaign.created_at
    return start.date() if start else ranges.today_utc() - timedelta(days=29)


class CampaignController(Controller):
    path = f"{API}/campaigns"
    tags = ["campaigns"]
    opt = READ
    security = SECURITY

    @get("/", sync_to_thread=True, summary="Every campaign with its send and return totals", responses=READ_ERRORS)
    def list_all(self, ctx: Ctx) -> CampaignList:
        all_campaign_stats, _stats, _domains = _analytics()
        with ctx.store.reader() as session:
            items = all_campaign_stats(session)
        return CampaignList(items=[{**i, "rates": _rates(i)} for i in items])

    @get("/{campaign:str}", sync_to_thread=True, summary="One campaign: sends, returns, rates, failures", responses=ITEM_ERRORS)
    def show(self, ctx: Ctx, campaign: CampaignParam) -> CampaignAnalytics:
        with ctx.store.reader() as session:
            row = find_campaign(session, campaign)
            if row is None:
                not_found(f"no campaign {campaign!r}")
            return campaign_report(session, row)


def campaign_report(session: Any, row: Campaign, by_domain: dict[str, dict[str, Any]] | None = None) -> CampaignAnalytics:
    """One campaign's analytics (the API's answer, and the console's campaign page, which passes ``by_domain={}``:
    the domains have their own page, :func:`mailer.analytics.top_domains`)."""
    _all, campaign_stats, domain_stats = _analytics()
    stats = campaign_stats(session, row)
    if by_domain is None:
        by_domain = domain_stats(session, row)
    first, last = campaign_days(row)
    days = counts.per_day(session, first, last, campaign=row.name)
    lines, summary = counts.failures(session, first, last, campaign=row.name)
    return CampaignAnalytics(campaign=row.name, status=row.status, stats=stats, by_domain=by_domain,
                             rates=_rates(stats), failures=lines, summary=summary, per_day=days)


def campaign_days(row: Campaign) -> tuple[date, date]:
    """From the campaign's first day to today (returns keep coming), within the longest range allowed."""
    last = ranges.today_utc()
    first = min(_first_day(row), last)
    return max(first, last - timedelta(days=ranges.MAX_DAYS - 1)), last
