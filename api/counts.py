"""Hygiene counts read from ``verdict_day_counts`` (kept by a trigger; see the store module).

Every function takes whole UTC days (inclusive) and never touches the
verdict tables, so its cost depends on days x categories, not on how many
millions of verdicts there are.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import func, select

from api import ranges
from api.labels import FAILURE_CATEGORIES, label, summary_line
from api.schemas import CampaignCount, DayCount, DomainCount, FailureAddress, FailureLine
from responsemaster.categories import CATEGORIES
from responsemaster.store.hygiene_counts import VerdictDayCount as C
from responsemaster.store.messages import MessageVerdict as V
from responsemaster.store.subscribers import Suppression

#: Suppression reasons an unsubscribe leaves (one-click, the API, the mailer's analytics use the same set).
UNSUBSCRIBE_REASONS = ("unsubscribe", "unsubscribed", "one_click")


def _where(stmt: Any, dimension: str, value: str | None, first: date, last: date) -> Any:
    stmt = stmt.where(C.dimension == dimension, C.day >= first.isoformat(), C.day <= last.isoformat())
    if value is not None:
        stmt = stmt.where(C.value == value)
    return stmt


def _scope(domain: str | None, campaign: str | None) -> tuple[str, str | None]:
    if domain is not None:
        return "domain", domain.lower()
    if campaign is not None:
        return "campaign", campaign
    return "all", ""


def per_day(session: Any, first: date, last: date, domain: str | None = None,
            campaign: str | None = None) -> list[DayCount]:
    dim, value = _scope(domain, campaign)
    stmt = _where(select(C.day, C.category, func.sum(C.n)), dim, value, first, last)
    rows = session.execute(stmt.group_by(C.day, C.category).order_by(C.day, C.category))
    return [DayCount(day=date.fromisoformat(d), category=c, count=int(n)) for d, c, n in rows]


def failures(session: Any, first: date, last: date, domain: str | None = None,
             campaign: str | None = None) -> tuple[list[FailureLine], str]:
    """Bounces and complaints grouped by reason, largest first, with the one-line summary."""
    dim, value = _scope(domain, campaign)
    stmt = _where(select(C.category, C.reason, func.sum(C.n)), dim, value, first, last)
    stmt = stmt.where(C.category.in_(sorted(FAILURE_CATEGORIES)))  # type: ignore[attr-defined]
    rows = session.execute(stmt.group_by(C.category, C.reason))
    lines = [FailureLine(category=c, reason=r, count=int(n), label=label(c, r)) for c, r, n in rows]
    lines.sort(key=lambda f: (-f.count, f.category, f.reason))
    merged: dict[str, int] = defaultdict(int)
    for line in lines:
        merged[line.label] += line.count
    return lines, summary_line([(n, text) for text, n in merged.items()])


def totals(days: list[DayCount]) -> dict[str, int]:
    found: dict[str, int] = {c: 0 for c in CATEGORIES}
    for row in days:
        found[row.category] = found.get(row.category, 0) + row.count
    return found


def _grouped(session: Any, dimension: str, first: date, last: date, category: str | None,
             value: str | None, limit: int, categories: frozenset[str] | None = None
             ) -> list[tuple[str, int, dict[str, int]]]:
    stmt = _where(select(C.value, C.category, func.sum(C.n)), dimension, value, first, last)
    if category:
        stmt = stmt.where(C.category == category)
    if categories:
        stmt = stmt.where(C.category.in_(sorted(categories)))  # type: ignore[attr-defined]
    found: dict[str, dict[str, int]] = defaultdict(dict)
    for v, c, n in session.execute(stmt.group_by(C.value, C.category)):
        found[v][c] = int(n)
    ranked = sorted(found.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))[:limit]
    return [(v, sum(cats.values()), cats) for v, cats in ranked]


def per_domain(session: Any, first: date, last: date, category: str | None = None,
               domain: str | None = None, limit: int = 100) -> list[DomainCount]:
    rows = _grouped(session, "domain", first, last, category, domain.lower() if domain else None, limit)
    return [DomainCount(domain=v, total=t, categories=c) for v, t, c in rows]


def worst_domains(session: Any, first: date, last: date, limit: int = 20) -> list[DomainCount]:
    """Recipient domains by failures (bounces and complaints, as in :func:`failures`), most first."""
    rows = _grouped(session, "domain", first, last, None, None, limit, FAILURE_CATEGORIES)
    return [DomainCount(domain=v, total=t, categories=c) for v, t, c in rows]


def per_campaign(session: Any, first: date, last: date, category: str | None = None,
                 campaign: str | None = None, limit: int = 100) -> list[CampaignCount]:
    rows = _grouped(session, "campaign", first, last, category, campaign, limit)
    return [CampaignCount(campaign=v, total=t, categories=c) for v, t, c in rows]


def failure_addresses(session: Any, first: date, last: date, *, category: str | None = None,
                      reason: str | None = None, domain: str | None = None, campaign: str | None = None,
                      limit: int = 100, before: str | None = None) -> list[FailureAddress]:
    """The verdicts behind a count of :func:`per_day`/:func:`failures`/:func:`per_domain`, newest first.

    The same rows the day counts were made from (``message_verdicts`` without an
    error, by the day of ``created_at``), read backwards along the time indexes
    (``ix_message_verdicts_domain_created``, ``..._category_created``); page with
    ``before`` = :func:`address_cursor` of the last row.
    """
    start, end = ranges.bounds(first, last)
    stmt = (select(V.id, V.created_at, V.subscriber, V.domain, V.category, V.reason, V.campaign, V.decided_by)
            .where(V.created_at >= start, V.created_at < end, V.error.is_(None)))  # type: ignore[union-attr]
    for column, value in ((V.category, category), (V.reason, reason), (V.domain, domain.lower() if domain else None),
                          (V.campaign, campaign)):
        if value is not None:
            stmt = stmt.where(column == value)
    if category is None and reason is None:
        stmt = stmt.where(V.category.in_(sorted(FAILURE_CATEGORIES)))  # type: ignore[attr-defined]
    if before:
        stmt = stmt.where(ranges.older_than(V.created_at, V.id, before))
    rows = session.execute(stmt.order_by(V.created_at.desc(), V.id.desc()).limit(limit))  # type: ignore[attr-defined,union-attr]
    return [FailureAddress(id=i, at=at, address=a, domain=d, category=c, reason=r, campaign=cp, decided_by=by,
                           label=label(c, r)) for i, at, a, d, c, r, cp, by in rows]


def address_cursor(row: FailureAddress) -> str:
    """Where the next page of :func:`failure_addresses` starts (after ``row``)."""
    return ranges.time_cursor(row.at, row.id)


def unsubscribes(session: Any, first: date, last: date) -> dict[str, int]:
    """Unsubscribes in the range: asked by mail (``unsubscribe_request`` verdicts) and by one click or the API
    (suppressions not decided by a message, so none is counted twice)."""
    start, end = ranges.bounds(first, last)
    by_mail = session.execute(_where(select(func.coalesce(func.sum(C.n), 0)), "all", "", first, last)
                              .where(C.category == "unsubscribe_request")).scalar_one()
    other = session.execute(select(func.count()).select_from(Suppression).where(
        Suppression.since >= start, Suppression.since < end,  # type: ignore[operator]
        Suppression.reason.in_(UNSUBSCRIBE_REASONS),  # type: ignore[attr-defined]
        ~Suppression.by.startswith("message:"))).scalar_one()  # type: ignore[union-attr]
    return {"by_mail": int(by_mail), "one_click": int(other), "total": int(by_mail) + int(other)}
