"""Sending: each relay with its quotas (per hour and per 24 hours: total, sent, left) and the delivery log.

Quotas are :func:`api.sending_views.quotas` (what ``/api/v1/sending/quotas``
answers and what the mailer enforces); the log is
:func:`api.sending_views.delivery_log`, filtered by days, campaign, domain,
relay and outcome, paged newest first by row id, and exported as CSV through
the mailer's writer (formula cells neutralised).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.enums import MediaType
from litestar.exceptions import ValidationException
from litestar.params import QueryParameter
from litestar.response import Stream, Template
from sqlalchemy import select

from api import ranges
from api import sending_views as views
from api.console.web import DayQ, RangeQ, Span, page, span
from api.context import Ctx
from mailer.csv_io import csv_chunks
from responsemaster.store.subscribers import Campaign

PAGE = 100
OUTCOMES = ("queued", "sending", "sent", "deferred", "failed", "uncertain", "suppressed")
Text = Annotated[str, QueryParameter(max_length=255)]
Status = Annotated[str, QueryParameter(name="outcome", pattern=r"^(|queued|sending|sent|deferred|failed|uncertain|suppressed)$")]
CampaignQ = Annotated[int | None, QueryParameter(name="campaign", ge=1, le=2**62)]
BeforeQ = Annotated[str | None, QueryParameter(name="before", pattern=ranges.TIME_CURSOR, max_length=64)]


def _filter(chosen: Span, campaign: int | None, domain: str, relay: str, outcome: str) -> views.DeliveryFilter:
    return views.DeliveryFilter(chosen.first, chosen.last, campaign, domain.strip(), relay.strip(), outcome)


def _csv(store: Any, where: views.DeliveryFilter) -> Iterator[bytes]:
    rows = ({k: getattr(r, k) for k in views.DELIVERY_COLUMNS} for r in views.iter_delivery_log(store, where))
    for text, _count in csv_chunks(rows, views.DELIVERY_COLUMNS):
        yield text.encode("utf-8")


class SendingPageController(Controller):
    path = "/sending"

    @get("/", sync_to_thread=True, media_type=MediaType.HTML)
    def sending(self, ctx: Ctx, request: Request[Any, Any, Any], period: RangeQ = None, since: DayQ = None,
                until: DayQ = None, campaign: CampaignQ = None, domain: Text = "", relay: Text = "",
                outcome: Status = "", before: BeforeQ = None) -> Template:
        chosen = span(period, since, until, default="7d")
        where = _filter(chosen, campaign, domain, relay, outcome)
        with ctx.store.reader() as session:
            quotas = views.quotas(session, ctx.settings)
            accounts = views.per_account(session, chosen.first, chosen.last)
            try:
                rows = views.delivery_log(session, where, PAGE + 1, before)
            except ValueError as exc:
                raise ValidationException(str(exc)) from None
            campaigns = list(session.execute(select(Campaign.id, Campaign.name).order_by(Campaign.id.desc())))  # type: ignore[union-attr]
        relays = views.relays(ctx.settings)
        known = {r.name for r in relays} | {q.account for q in quotas}
        filters = {"campaign": campaign or "", "domain": where.domain, "relay": where.relay, "outcome": outcome}
        return page(request, "sending.html", span=chosen, relays=relays, quotas=quotas, accounts=accounts,
                    rows=rows[:PAGE], next_before=views.log_cursor(rows[PAGE - 1]) if len(rows) > PAGE else None,
                    before=before, campaigns=campaigns, relay_names=sorted(known), outcomes=OUTCOMES,
                    filters=filters, qs=chosen.qs(**filters))

    @get("/export.csv", sync_to_thread=False)
    def export(self, ctx: Ctx, period: RangeQ = None, since: DayQ = None, until: DayQ = None,
               campaign: CampaignQ = None, domain: Text = "", relay: Text = "", outcome: Status = "") -> Stream:
        where = _filter(span(period, since, until, default="7d"), campaign, domain, relay, outcome)
        return Stream(_csv(ctx.store, where), media_type="text/csv; charset=utf-8",
                      headers={"Content-Disposition": 'attachment; filename="deliveries.csv"', "Cache-Control": "no-store"})
