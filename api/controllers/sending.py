"""Sending views: sends per day / sender account / recipient domain, quotas, failures by reason."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.exceptions import ValidationException
from litestar.params import QueryParameter

from api import ranges
from api import sending_views as views
from api.context import Ctx
from api.controllers.common import API, READ, READ_ERRORS, SECURITY
from api.controllers.stats import RangeParam, SinceParam, UntilParam
from api.schemas import DeliveryPage, Quota, SendingReport

OUTCOME = "^(queued|sending|sent|deferred|failed|uncertain|suppressed)$"


class SendingController(Controller):
    path = f"{API}/sending"
    tags = ["sending"]
    opt = READ
    security = SECURITY

    @get("/", sync_to_thread=True, summary="Sends per day, account and domain over a range, with quotas and failures", responses=READ_ERRORS)
    def report(
        self, ctx: Ctx, period: RangeParam = None, since: SinceParam = None, until: UntilParam = None,
        domains: Annotated[int, QueryParameter(ge=1, le=10_000, description="How many domains to list")] = 50,
    ) -> SendingReport:
        first, last = ranges.resolve(period, since, until, default="today")
        dialect = ctx.store.dialect
        with ctx.store.reader() as session:
            return SendingReport(
                since=first, until=last,
                per_day=views.per_day(session, dialect, first, last),
                per_account=views.per_account(session, first, last),
                per_domain=views.per_domain(session, first, last, domains),
                quotas=views.quotas(session, ctx.settings),
                delivery_failures=views.delivery_failures(session, first, last),
                bounce_reasons=views.bounce_reasons(session, first, last),
            )

    @get("/quotas", sync_to_thread=True, summary="Each sender account's quota: total, sent, remaining", responses=READ_ERRORS)
    def quotas(self, ctx: Ctx) -> list[Quota]:
        with ctx.store.reader() as session:
            return views.quotas(session, ctx.settings)

    @get("/deliveries", sync_to_thread=True, summary="The delivery log, newest first, filtered and paged", responses=READ_ERRORS)
    def deliveries(
        self, ctx: Ctx, period: RangeParam = None, since: SinceParam = None, until: UntilParam = None,
        campaign: Annotated[int | None, QueryParameter(ge=1, le=2**62, description="Campaign id")] = None,
        domain: Annotated[str | None, QueryParameter(max_length=255)] = None,
        relay: Annotated[str | None, QueryParameter(max_length=255)] = None,
        outcome: Annotated[str | None, QueryParameter(pattern=OUTCOME)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
        before: Annotated[str | None, QueryParameter(pattern=ranges.TIME_CURSOR, max_length=64,
                                                     description="next_before of the previous page")] = None,
    ) -> DeliveryPage:
        first, last = ranges.resolve(period, since, until, default="7d")
        where = views.DeliveryFilter(first, last, campaign, domain or "", relay or "", outcome or "")
        try:
            with ctx.store.reader() as session:
                rows = views.delivery_log(session, where, limit + 1, before)
        except ValueError as exc:
            raise ValidationException(str(exc)) from None
        return DeliveryPage(items=rows[:limit],
                            next_before=views.log_cursor(rows[limit - 1]) if len(rows) > limit else None)
