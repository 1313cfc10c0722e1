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

from api.labels import FAILURE_CATEGORIES, label, summary_line
from api.schemas import CampaignCount, DayCount, DomainCount, FailureLine
from responsemaster.categories import CATEGORIES
from responsemaster.store.hygiene_counts import VerdictDayCount as C


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
             value: str | None, limit: int) -> list[tuple[str, int, dict[str, int]]]:
    stmt = _where(select(C.value, C.category, func.sum(C.n)), dimension, value, first, last)
    if category:
        stmt = stmt.where(C.category == category)
    found: dict[str, dict[str, int]] = defaultdict(dict)
    for v, c, n in session.execute(stmt.group_by(C.value, C.category)):
        found[v][c] = int(n)
    ranked = sorted(found.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))[:limit]
    return [(v, sum(cats.values()), cats) for v, cats in ranked]


def per_domain(session: Any, first: date, last: date, category: str | None = None,
               domain: str | None = None, limit: int = 100) -> list[DomainCount]:
    rows = _grouped(session, "domain", first, last, category, domain.lower() if domain else None, limit)
    return [DomainCount(domain=v, total=t, categories=c) for v, t, c in rows]


def per_campaign(session: Any, first: date, last: date, category: str | None = None,
                 campaign: str | None = None, limit: int = 100) -> list[CampaignCount]:
    rows = _grouped(session, "campaign", first, last, category, campaign, limit)
    return [CampaignCount(campaign=v, total=t, categories=c) for v, t, c in rows]
