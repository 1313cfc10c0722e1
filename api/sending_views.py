"""Sending views for the mailer's operators: sends per day, sender account and domain; quotas; failures.

Sources: ``deliveries`` (the mailer's send log; a row's moment is its
``sent_at``, else when it was queued), ``sender_usage`` (messages accepted per
relay per UTC hour, which is what quotas are counted on) and the verdict
counts for returned bounces. Quotas come from ``sender_accounts`` (hourly) and
the ``[[mailer.relays]]`` configuration (daily), the same numbers the mailer
enforces.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import case, func, select

from api import counts, ranges
from api.schemas import DeliveryRow, FailureLine, Quota, RelayInfo, SendAccount, SendDay, SendDomain
from responsemaster.categories import BOUNCE_CATEGORIES
from responsemaster.config import Settings
from responsemaster.store.base import utcnow
from responsemaster.store.hygiene_counts import VerdictDayCount
from responsemaster.store.mailing import SenderUsage
from responsemaster.store.platform import Delivery, SenderAccount
from responsemaster.store.subscribers import Campaign

_SMTP = re.compile(r"\b([245]\d\d)\b[ -]?(?:([245]\.\d{1,3}\.\d{1,3}))?")


def day_of(column: Any, dialect: str) -> Any:
    """A UTC timestamp column as ``YYYY-MM-DD`` text on either backend."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.substr(column, 1, 10)


def failure_reason(error: str) -> str:
    """Group free-text send errors by their SMTP reply and status code (``550 5.1.1``)."""
    match = _SMTP.search(error or "")
    if match:
        return " ".join(p for p in match.groups() if p)
    text = (error or "").strip().splitlines()[0] if (error or "").strip() else ""
    return text[:60] or "unknown"


def per_day(session: Any, dialect: str, first: date, last: date) -> list[SendDay]:
    start, end = ranges.bounds(first, last)
    moment = func.coalesce(Delivery.sent_at, Delivery.queued_at)
    day = day_of(moment, dialect)
    rows = session.execute(select(day, Delivery.status, func.count())
                           .where(moment >= start, moment < end).group_by(day, Delivery.status))
    found: dict[str, Counter[str]] = defaultdict(Counter)
    for d, status, n in rows:
        found[d][status] += int(n)
    return [SendDay(day=date.fromisoformat(d), sent=c["sent"], failed=c["failed"], deferred=c["deferred"])
            for d, c in sorted(found.items())]


def per_account(session: Any, first: date, last: date) -> list[SendAccount]:
    start, end = ranges.bounds(first, last)
    rows = session.execute(
        select(SenderAccount.name, func.coalesce(func.sum(SenderUsage.sent), 0))
        .join(SenderUsage, (SenderUsage.account_id == SenderAccount.id) & (SenderUsage.hour >= start)
              & (SenderUsage.hour < end), isouter=True)
        .group_by(SenderAccount.name).order_by(SenderAccount.name))
    return [SendAccount(account=name, sent=int(n)) for name, n in rows]


def per_domain(session: Any, first: date, last: date, limit: int, domains: list[str] | None = None) -> list[SendDomain]:
    """Sends per recipient domain, most first; ``domains``: only these (read from their own index range)."""
    start, end = ranges.bounds(first, last)
    moment = func.coalesce(Delivery.sent_at, Delivery.queued_at)
    stmt = select(Delivery.domain, Delivery.status, func.count()).where(moment >= start, moment < end)
    if domains is not None:
        stmt = stmt.where(Delivery.domain.in_(domains))  # type: ignore[attr-defined]
    rows = session.execute(stmt.group_by(Delivery.domain, Delivery.status))
    found: dict[str, Counter[str]] = defaultdict(Counter)
    for domain, status, n in rows:
        found[domain][status] += int(n)
    bounced = dict(session.execute(
        select(VerdictDayCount.value, func.sum(VerdictDayCount.n))
        .where(VerdictDayCount.dimension == "domain", VerdictDayCount.day >= first.isoformat(),
               VerdictDayCount.day <= last.isoformat(),
               VerdictDayCount.category.in_(sorted(BOUNCE_CATEGORIES)),  # type: ignore[attr-defined]
               *([VerdictDayCount.value.in_(domains)] if domains is not None else []))  # type: ignore[attr-defined]
        .group_by(VerdictDayCount.value)).all())
    items = [SendDomain(domain=d, sent=c["sent"], failed=c["failed"], bounced=int(bounced.get(d, 0)))
             for d, c in found.items()]
    items.sort(key=lambda s: (-s.sent, s.domain))
    return items[:limit]


def delivery_failures(session: Any, first: date, last: date) -> dict[str, int]:
    start, end = ranges.bounds(first, last)
    moment = func.coalesce(Delivery.sent_at, Delivery.queued_at)
    rows = session.execute(select(Delivery.last_error, func.count())
                           .where(moment >= start, moment < end, Delivery.status.in_(("failed", "deferred")))  # type: ignore[attr-defined]
                           .group_by(Delivery.last_error).limit(10_000))
    found: Counter[str] = Counter()
    for error, n in rows:
        found[failure_reason(error)] += int(n)
    return dict(found.most_common())


def _daily_limits(settings: Settings) -> dict[str, int]:
    try:
        from mailer.settings import mailer_settings

        return {r.name: r.max_per_day for r in mailer_settings(settings).relays}
    except Exception:
        return {}


def quotas(session: Any, settings: Settings) -> list[Quota]:
    """Each account's hourly and daily quota: total (None = unlimited), sent, remaining."""
    now = utcnow()
    hour = now.replace(minute=0, second=0, microsecond=0)
    day_start = hour - timedelta(hours=23)
    daily = _daily_limits(settings)
    out = []
    for account in session.execute(select(SenderAccount).order_by(SenderAccount.name)).scalars():
        this_hour, last_day = session.execute(
            select(func.coalesce(func.sum(case((SenderUsage.hour >= hour, SenderUsage.sent), else_=0)), 0),
                   func.coalesce(func.sum(SenderUsage.sent), 0))
            .where(SenderUsage.account_id == account.id, SenderUsage.hour >= day_start)).one()
        sent_hour, sent_day = int(this_hour), int(last_day)
        for period, total, sent in (("hour", account.max_per_hour, sent_hour),
                                    ("24h", daily.get(account.name, 0), sent_day)):
            limit = int(total or 0) or None
            out.append(Quota(account=account.name, period=period, total=limit, sent=sent,
                             remaining=max(0, limit - sent) if limit else None))
    return out


def bounce_reasons(session: Any, first: date, last: date) -> list[FailureLine]:
    return counts.failures(session, first, last)[0]


@dataclass(frozen=True)
class DeliveryFilter:
    """What the delivery log is narrowed to; every field optional but the days."""

    first: date
    last: date
    campaign_id: int | None = None
    domain: str = ""
    relay: str = ""
    #: A delivery state (queued, sending, sent, deferred, failed, uncertain, suppressed).
    status: str = ""

    def where(self, stmt: Any) -> Any:
        start, end = ranges.bounds(self.first, self.last)
        moment = func.coalesce(Delivery.sent_at, Delivery.queued_at)
        stmt = stmt.where(moment >= start, moment < end)
        for column, value in ((Delivery.campaign_id, self.campaign_id), (Delivery.domain, self.domain.lower()),
                              (Delivery.relay, self.relay), (Delivery.status, self.status)):
            if value not in (None, ""):
                stmt = stmt.where(column == value)
        return stmt


DELIVERY_COLUMNS = ("id", "campaign", "address", "domain", "status", "relay", "attempts", "queued_at", "sent_at",
                    "last_error")


def _log_select() -> Any:
    return (select(Delivery.id, Campaign.name, Delivery.address, Delivery.domain, Delivery.status, Delivery.relay,
                   Delivery.attempts, Delivery.queued_at, Delivery.sent_at, Delivery.last_error)
            .join(Campaign, Campaign.id == Delivery.campaign_id))


def log_cursor(row: DeliveryRow) -> str:
    """Where the next page of the delivery log starts (after ``row``)."""
    return ranges.time_cursor(row.sent_at or row.queued_at, row.id)


def delivery_log(session: Any, where: DeliveryFilter, limit: int = 100, before: str | None = None) -> list[DeliveryRow]:
    """The send log, newest first (by when sent, or queued while not sent: the moment the filter reads, so
    the newest rows of a range come straight from ``ix_deliveries_moment_status``); page with
    ``before`` = :func:`log_cursor` of the last row."""
    stmt = where.where(_log_select())
    at = func.coalesce(Delivery.sent_at, Delivery.queued_at)
    if before:
        stmt = stmt.where(ranges.older_than(at, Delivery.id, before))
    rows = session.execute(stmt.order_by(at.desc(), Delivery.id.desc()).limit(limit))  # type: ignore[union-attr]
    return [DeliveryRow(**dict(zip(DELIVERY_COLUMNS, row, strict=True))) for row in rows]


def iter_delivery_log(store: Any, where: DeliveryFilter, chunk: int = 2000) -> Iterator[DeliveryRow]:
    """Every row of the filtered log, newest first, read in keyset chunks (flat memory for a CSV export)."""
    before: str | None = None
    while True:
        with store.reader() as session:
            rows = delivery_log(session, where, chunk, before)
        yield from rows
        if len(rows) < chunk:
            return
        before = log_cursor(rows[-1])


def subscriber_deliveries(session: Any, subscriber_id: int, limit: int = 50) -> list[DeliveryRow]:
    """One subscriber's deliveries (every campaign), newest first."""
    stmt = _log_select().where(Delivery.subscriber_id == subscriber_id)
    rows = session.execute(stmt.order_by(Delivery.id.desc()).limit(limit))  # type: ignore[union-attr]
    return [DeliveryRow(**dict(zip(DELIVERY_COLUMNS, row, strict=True))) for row in rows]


def relays(settings: Settings) -> list[RelayInfo]:
    """The configured relays (``[[mailer.relays]]``), without their secrets."""
    try:
        from mailer.settings import mailer_settings

        configured = mailer_settings(settings).relays
    except Exception:  # no mailer, or a mailer section the mailer itself refuses (it says why when it runs)
        return []
    return [RelayInfo(name=r.name, host=r.host, port=r.port, tls=r.tls, max_connections=r.max_connections,
                      max_per_hour=r.max_per_hour, max_per_day=r.max_per_day) for r in configured]
