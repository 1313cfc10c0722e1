"""Failures: counts per reason and per domain for any days, the addresses behind each count, suppressions.

The counts are the API's (:func:`api.counts.failures`, :func:`api.counts.worst_domains`,
from the per-day summary); one click lists the verdicts they were made from
(:func:`api.counts.failure_addresses`). The suppression list is searched by
address prefix, exported with the API's CSV writer, and lifted through the
API's own :func:`api.controllers.suppressions.lift_suppression`, after a
confirmation page that says what will happen.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.enums import MediaType
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import QueryParameter
from litestar.response import Redirect, Stream, Template
from sqlalchemy import func, select

from api import counts, ranges
from api.kept import Result, kept
from api.console.charts import CATEGORY_COLOURS
from api.console.dashboard import return_chart
from api.console.web import ROOT, WRITE, DayQ, Form, RangeQ, back, caller, checked, page, span, starts_with
from api.context import Ctx
from api.controllers.common import actor_and_address
from api.controllers.suppressions import iter_csv, lift_suppression
from api.labels import FAILURE_CATEGORIES
from responsemaster.store.base import address_key
from responsemaster.store.subscribers import Suppression

PAGE = 100
Text = Annotated[str, QueryParameter(max_length=320)]
Name = Annotated[str | None, QueryParameter(max_length=64)]
BeforeQ = Annotated[str | None, QueryParameter(name="before", pattern=ranges.TIME_CURSOR, max_length=64)]
PageQ = Annotated[int, QueryParameter(ge=1, le=1_000_000)]


def suppressions(session: Any, store: Any, prefix: str, reason: str | None, page_no: int
                 ) -> tuple[list[Suppression], int]:
    """A page of the suppression list (newest first), narrowed to an address prefix and a reason."""
    stmt, count = select(Suppression), select(func.count()).select_from(Suppression)
    if prefix.strip():
        key = address_key(prefix.strip()) if "@" in prefix else prefix.strip().lower()
        cond = starts_with(Suppression.address_key, key, store)
        stmt, count = stmt.where(cond), count.where(cond)
    if reason:
        stmt, count = stmt.where(Suppression.reason == reason), count.where(Suppression.reason == reason)
    rows = session.execute(stmt.order_by(Suppression.id.desc()).offset((page_no - 1) * PAGE).limit(PAGE)).scalars()  # type: ignore[union-attr]
    return list(rows), int(session.execute(count).scalar_one())


def _worst(store: Any, chosen: Any) -> list[Any]:
    with store.reader() as session:
        return counts.worst_domains(session, chosen.first, chosen.last, 50)


class FailuresController(Controller):
    path = "/failures"

    @get("/", sync_to_thread=True, media_type=MediaType.HTML)
    def failures(self, ctx: Ctx, request: Request[Any, Any, Any], period: RangeQ = None, since: DayQ = None,
                 until: DayQ = None, domain: Text = "") -> Template:
        chosen = span(period, since, until)
        one = domain.strip().lower() or None
        with ctx.store.reader() as session:
            lines, summary = counts.failures(session, chosen.first, chosen.last, domain=one)
            days = counts.per_day(session, chosen.first, chosen.last, domain=one)
        domains = kept.get(ctx.store, ("worst_domains", chosen.first, chosen.last, 50),
                           lambda: _worst(ctx.store, chosen)) if one is None else Result([])
        failing = [d for d in days if d.category in FAILURE_CATEGORIES]
        chart = return_chart(chosen.first, chosen.last, failing, "failures-per-day",
                             f"Failures per day{' at ' + one if one else ''}, by category")
        return page(request, "failures.html", span=chosen, domain=one or "", lines=lines, summary=summary,
                    domains=domains.value, counted_at=domains.at, chart=chart, colours=CATEGORY_COLOURS)

    @get("/addresses", sync_to_thread=True, media_type=MediaType.HTML)
    def addresses(self, ctx: Ctx, request: Request[Any, Any, Any], period: RangeQ = None, since: DayQ = None,
                  until: DayQ = None, category: Name = None, reason: Name = None, domain: Text = "",
                  before: BeforeQ = None) -> Template:
        chosen = span(period, since, until)
        if category is not None and category not in CATEGORY_COLOURS:
            raise ValidationException(f"unknown category {category!r}")
        one = domain.strip().lower() or None
        try:
            with ctx.store.reader() as session:
                rows = counts.failure_addresses(session, chosen.first, chosen.last, category=category, reason=reason,
                                                domain=one, limit=PAGE + 1, before=before)
        except ValueError as exc:
            raise ValidationException(str(exc)) from None
        more = counts.address_cursor(rows[PAGE - 1]) if len(rows) > PAGE else None
        qs = chosen.qs(category=category, reason=reason, domain=one)
        return page(request, "failure_addresses.html", span=chosen, rows=rows[:PAGE], next_before=more,
                    before=before, category=category, reason=reason, domain=one or "", qs=qs)

    @get("/suppressions", sync_to_thread=True, media_type=MediaType.HTML)
    def suppression_list(self, ctx: Ctx, request: Request[Any, Any, Any], q: Text = "", reason: Name = None,
                         page_no: Annotated[int, QueryParameter(name="page", ge=1, le=1_000_000)] = 1) -> Template:
        with ctx.store.reader() as session:
            rows, total = suppressions(session, ctx.store, q, reason, page_no)
            reasons = list(session.execute(select(Suppression.reason).distinct().order_by(Suppression.reason)).scalars())
        return page(request, "suppressions.html", rows=rows, total=total, q=q, reason=reason or "", page_no=page_no,
                    pages=(total + PAGE - 1) // PAGE, reasons=reasons)

    @get("/suppressions/export.csv", sync_to_thread=False)
    def export(self, ctx: Ctx, reason: Name = None, domain: Annotated[str | None, QueryParameter(max_length=255)] = None
               ) -> Stream:
        return Stream(iter_csv(ctx.store, reason or None, domain or None), media_type="text/csv; charset=utf-8",
                      headers={"Content-Disposition": 'attachment; filename="suppressions.csv"', "Cache-Control": "no-store"})

    @get("/suppressions/resubscribe", opt=WRITE, sync_to_thread=True, media_type=MediaType.HTML)
    def confirm(self, ctx: Ctx, request: Request[Any, Any, Any], address: Text) -> Template:
        """What re-subscribing would do, and the button (a GET changes nothing)."""
        with ctx.store.reader() as session:
            row = session.execute(select(Suppression).where(Suppression.address_key == address_key(address))).scalars().first()
        if row is None:
            raise NotFoundException(f"{address!r} is not suppressed")
        needs_admin = row.reason == "complaint" and not caller(request).allows("admin")
        return page(request, "resubscribe.html", s=row, needs_admin=needs_admin)

    @post("/suppressions/resubscribe", opt=WRITE, sync_to_thread=True, status_code=303)
    def resubscribe(self, ctx: Ctx, request: Request[Any, Any, Any], data: Form) -> Redirect:
        checked(request, data)
        address, reason = (data.get("address") or "").strip(), (data.get("reason") or "").strip()
        if data.get("confirm") != "yes":
            raise ValidationException("tick the box to confirm")
        if not 3 <= len(reason) <= 500:
            raise ValidationException("say why (3 to 500 characters): it goes into the operation log")
        _actor, client = actor_and_address(request)
        done = lift_suppression(ctx.store, address[:320], reason, caller(request), client)
        return back(f"{ROOT}/lists/subscriber", "resubscribed", address=done.address)
