"""Counts per category per day, per recipient domain and per campaign, over a time range.

The operator's view from bulk-mail platforms: "failures: 18 addresses do not
exist, 4 mailboxes full, 35 rejected", for everything, one domain or one
campaign, over today / this week / this month / 7, 30, 90 days / a chosen range.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from litestar import Controller, get
from litestar.exceptions import ValidationException
from litestar.params import QueryParameter

from api import counts, ranges
from api.context import Ctx
from api.controllers.common import API, READ, READ_ERRORS, SECURITY
from api.one_read import one_read
from api.schemas import CampaignReport, CategoryReport, DomainReport, FailureAddressPage

RangeParam = Annotated[ranges.Period | None, QueryParameter(name="range", description="Named range (UTC days)")]
SinceParam = Annotated[date | None, QueryParameter(description="First day (UTC, inclusive)")]
UntilParam = Annotated[date | None, QueryParameter(description="Last day (UTC, inclusive)")]
CategoryParam = Annotated[str | None, QueryParameter(max_length=32)]
NameParam = Annotated[str | None, QueryParameter(max_length=255)]


class StatsController(Controller):
    path = f"{API}/stats"
    tags = ["stats"]
    opt = READ
    security = SECURITY

    @get("/categories", sync_to_thread=True, summary="Verdicts per category per day, and the failures summary", responses=READ_ERRORS)
    def categories(
        self, ctx: Ctx, period: RangeParam = None, since: SinceParam = None, until: UntilParam = None,
        domain: NameParam = None, campaign: NameParam = None,
    ) -> CategoryReport:
        first, last = ranges.resolve(period, since, until)
        with ctx.store.reader() as session:
            days = counts.per_day(session, first, last, domain, campaign)
            lines, summary = counts.failures(session, first, last, domain, campaign)
        return CategoryReport(since=first, until=last, totals=counts.totals(days), per_day=days,
                              failures=lines, summary=summary)

    @get("/domains", sync_to_thread=True, summary="Verdicts per recipient domain (largest first)", responses=READ_ERRORS)
    def domains(
        self, ctx: Ctx, period: RangeParam = None, since: SinceParam = None, until: UntilParam = None,
        category: CategoryParam = None, domain: NameParam = None,
        limit: Annotated[int, QueryParameter(ge=1, le=10_000)] = 100,
    ) -> DomainReport:
        first, last = ranges.resolve(period, since, until)
        with one_read(ctx.store) as session:  # one grouped SELECT
            items = counts.per_domain(session, first, last, category, domain, limit)
        return DomainReport(since=first, until=last, items=items)

    @get("/campaigns", sync_to_thread=True, summary="Verdicts per campaign (largest first)", responses=READ_ERRORS)
    def campaigns(
        self, ctx: Ctx, period: RangeParam = None, since: SinceParam = None, until: UntilParam = None,
        category: CategoryParam = None, campaign: NameParam = None,
        limit: Annotated[int, QueryParameter(ge=1, le=10_000)] = 100,
    ) -> CampaignReport:
        first, last = ranges.resolve(period, since, until)
        with one_read(ctx.store) as session:  # one grouped SELECT
            items = counts.per_campaign(session, first, last, category, campaign, limit)
        return CampaignReport(since=first, until=last, items=items)

    @get("/addresses", sync_to_thread=True, summary="The verdicts behind a count (a failure reason, a domain...), newest first",
         responses=READ_ERRORS)
    def addresses(
        self, ctx: Ctx, period: RangeParam = None, since: SinceParam = None, until: UntilParam = None,
        category: CategoryParam = None, reason: Annotated[str | None, QueryParameter(max_length=64)] = None,
        domain: NameParam = None, campaign: NameParam = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
        before: Annotated[str | None, QueryParameter(pattern=ranges.TIME_CURSOR, max_length=64,
                                                     description="next_before of the previous page")] = None,
    ) -> FailureAddressPage:
        """Without ``category`` and ``reason``: the failures (bounces and complaints), as the failures summary counts them."""
        first, last = ranges.resolve(period, since, until)
        try:
            with ctx.store.reader() as session:
                rows = counts.failure_addresses(session, first, last, category=category, reason=reason, domain=domain,
                                                campaign=campaign, limit=limit + 1, before=before)
        except ValueError as exc:
            raise ValidationException(str(exc)) from None
        return FailureAddressPage(items=rows[:limit],
                                  next_before=counts.address_cursor(rows[limit - 1]) if len(rows) > limit else None)
