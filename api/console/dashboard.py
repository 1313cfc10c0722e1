"""The dashboard: today and a range of days (30 by default) at a glance.

Sends come from the delivery log (:mod:`api.sending_views`), returns from the
per-day verdict counts (:mod:`api.counts`), the review queue from
:mod:`api.review_ops`: the numbers the API answers with, computed the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from litestar import Controller, Request, get
from litestar.enums import MediaType
from litestar.response import Template

from api import counts, ranges, review_ops
from api.kept import Result, kept
from api import sending_views as sends
from api.console import charts
from api.console.web import DayQ, RangeQ, page, span
from api.context import Ctx
from api.labels import FAILURE_CATEGORIES
from api.schemas import DayCount, DomainCount, SendDay, SendDomain
from responsemaster.categories import BOUNCE_CATEGORIES


@dataclass
class Figures:
    """The headline numbers of one range of days."""

    attempted: int
    accepted: int
    refused: int
    deferred: int
    returned: dict[str, int]
    bounced: int
    complaints: int
    unsubscribes: dict[str, int]
    summary: str

    @property
    def returned_total(self) -> int:
        return sum(self.returned.values())


def figures(session: Any, dialect: str, first: date, last: date) -> tuple[Figures, list[SendDay], list[DayCount]]:
    send_days = sends.per_day(session, dialect, first, last)
    return_days = counts.per_day(session, first, last)
    totals = counts.totals(return_days)
    _lines, summary = counts.failures(session, first, last)
    accepted = sum(d.sent for d in send_days)
    refused = sum(d.failed for d in send_days)
    deferred = sum(d.deferred for d in send_days)
    found = Figures(
        attempted=accepted + refused + deferred, accepted=accepted, refused=refused, deferred=deferred,
        returned={c: n for c, n in totals.items() if n}, bounced=sum(totals.get(c, 0) for c in BOUNCE_CATEGORIES),
        complaints=totals.get("feedback_loop", 0), unsubscribes=counts.unsubscribes(session, first, last),
        summary=summary)
    return found, send_days, return_days


def send_chart(first: date, last: date, days: list[SendDay]) -> charts.Chart:
    values = {(d.day, key): getattr(d, key) for d in days for key, _l, _c in charts.SEND_SERIES}
    return charts.stacked_days("sends", "Messages sent per day", first, last, charts.send_series(), values)


def return_chart(first: date, last: date, days: list[DayCount], ident: str = "returns",
                 title: str = "Returned mail per day, by category") -> charts.Chart:
    values: dict[tuple[date, str], int] = {}
    for d in days:
        values[(d.day, d.category)] = values.get((d.day, d.category), 0) + d.count
    return charts.stacked_days(ident, title, first, last, charts.category_series(), values)


def worst_domains(session: Any, first: date, last: date, limit: int = 15) -> list[tuple[DomainCount, SendDomain | None]]:
    """Domains with the most failures, beside what was sent to them in the same days."""
    worst = counts.worst_domains(session, first, last, limit)
    sent = {d.domain: d for d in sends.per_domain(session, first, last, limit, [d.domain for d in worst])}
    return [(d, sent.get(d.domain)) for d in worst]


def range_figures(store: Any, first: date, last: date) -> Result[tuple[Figures, list[SendDay], list[DayCount], list[Any]]]:
    """The figures, the charts' days and the worst domains of a range (kept a minute when they were slow)."""
    def compute() -> tuple[Figures, list[SendDay], list[DayCount], list[Any]]:
        with store.reader() as session:
            found, send_days, return_days = figures(session, store.dialect, first, last)
            return found, send_days, return_days, worst_domains(session, first, last)

    return kept.get(store, ("dashboard", first, last), compute)


class DashboardController(Controller):
    path = "/"

    @get("/", sync_to_thread=True, media_type=MediaType.HTML)
    def dashboard(self, ctx: Ctx, request: Request[Any, Any, Any], period: RangeQ = None, since: DayQ = None,
                  until: DayQ = None) -> Template:
        chosen = span(period, since, until)
        today = ranges.today_utc()
        with ctx.store.reader() as session:
            waiting = review_ops.open_count(session)
        now = range_figures(ctx.store, today, today).value[0]
        over = range_figures(ctx.store, chosen.first, chosen.last)
        figures_, send_days, return_days, domains = over.value
        return page(request, "dashboard.html", span=chosen, today=now, over=figures_, waiting=waiting,
                    sends=send_chart(chosen.first, chosen.last, send_days), counted_at=over.at,
                    returns=return_chart(chosen.first, chosen.last, return_days), domains=domains,
                    failure_categories=sorted(FAILURE_CATEGORIES))
