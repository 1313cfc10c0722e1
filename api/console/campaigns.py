"""Campaigns: create, pre-flight, send now or schedule, pause and resume, and each one's results.

Every action is the mailer's own function (:mod:`mailer.campaigns`,
:mod:`mailer.service`); a send is queued on the mailer's Huey queue, which
``serve`` consumes (as ``mailer worker`` does), so a long send never holds a
request. The campaign page shows the API's campaign analytics
(:func:`api.controllers.campaigns.campaign_report`) and refreshes itself with
``<meta http-equiv=refresh>`` while the campaign sends, so it needs no script.
"""

from __future__ import annotations

import threading
from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from litestar import Controller, Litestar, Request, get, post
from litestar.enums import MediaType
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import PathParameter
from litestar.response import Redirect, Response, Template
from sqlalchemy import select

from api import counts, oplog, review_ops
from api.console.dashboard import return_chart
from api.kept import kept, member_counts
from api.console.web import ROOT, WRITE, Form, back, checked, page, parse_when, positive_int
from api.context import ApiContext, Ctx
from api.controllers.campaigns import campaign_days, campaign_report, find_campaign
from api.controllers.common import actor_and_address
from mailer.analytics import top_domains
from mailer.campaigns import CampaignError, create_campaign, pause_campaign, resume_campaign, set_limit
from mailer.service import preflight_campaign, queue_run
from mailer.subscribers import all_lists
from mailer.tasks import MailerTasks, make_mailer_huey, register_mailer_tasks
from responsemaster.store.base import utcnow
from responsemaster.store.mailing import CampaignPlan, MailTemplate
from responsemaster.store.subscribers import Campaign, MailingList

NameParam = Annotated[str, PathParameter(max_length=255)]
#: Seconds between refreshes of a campaign page while it sends.
REFRESH = 5
#: A campaign page's chart covers at most this many days from the campaign's first.
CHART_DAYS = 90
#: A campaign's domains page shows this many (``/api/v1/campaigns/{name}`` has them all).
DOMAINS_SHOWN = 200
#: The campaigns page lists this many, newest first (the API's /campaigns/ has them all).
INDEX_PAGE = 25


_TASKS_LOCK = threading.Lock()


def mailer_tasks(app: Litestar) -> MailerTasks:
    """The mailer's queue for this app, made once: the console queues sends on it, ``serve`` consumes it."""
    with _TASKS_LOCK:
        if not hasattr(app.state, "mailer_tasks"):
            settings = app.state.ctx.settings
            app.state.mailer_tasks = register_mailer_tasks(make_mailer_huey(settings), settings)
        return app.state.mailer_tasks  # type: ignore[no-any-return]


def _campaign(session: Any, name: str) -> Campaign:
    row = find_campaign(session, name)
    if row is None:
        raise NotFoundException(f"no campaign {name!r}")
    return row


def _here(name: str) -> str:
    return f"{ROOT}/campaigns/{quote(name, safe='')}"


def campaign_chart(first: date, last: date, days: list[Any]) -> Any:
    """Returns per day from the campaign's first day: two weeks at least, its first :data:`CHART_DAYS` at most
    (returns come in the first days; the totals above cover every day)."""
    start = min(first, last - timedelta(days=13))
    end = min(last, start + timedelta(days=CHART_DAYS - 1))
    title = "Returns of this campaign per day, by category" + (
        f" (its first {CHART_DAYS} days)" if end < last else "")
    return return_chart(start, end, [d for d in days if start <= d.day <= end], "campaign-returns", title)


def planned(ctx: ApiContext, campaign: Campaign, plan: CampaignPlan | None, stats: dict[str, Any]) -> int:
    """About how many messages the campaign sends: its limit, or its list's members still on it.

    Never fewer than it has handled or still holds: the list shrinks as bounces prune it.
    """
    states = member_counts(ctx.store).value.get(campaign.list_id or 0, {})
    members = sum(n for state, n in states.items() if state != "left")
    limit = plan.recipient_limit if plan else 0
    seen = sum(int(stats.get(k) or 0) for k in ("sent", "failed_at_send", "uncertain", "queued", "deferred"))
    return max(min(limit, members) if limit else members, seen)


class CampaignPagesController(Controller):
    path = "/campaigns"

    @get("/", sync_to_thread=True, media_type=MediaType.HTML)
    def index(self, ctx: Ctx, request: Request[Any, Any, Any]) -> Template:
        from mailer.analytics import all_campaign_stats

        def totals() -> list[dict[str, Any]]:
            with ctx.store.reader() as session:
                return all_campaign_stats(session, limit=INDEX_PAGE)

        items = kept.get(ctx.store, ("campaigns", INDEX_PAGE), totals)
        with ctx.store.reader() as session:
            lists = all_lists(session)
            templates = list(session.execute(select(MailTemplate.name).order_by(MailTemplate.name)).scalars())
        return page(request, "campaigns.html", items=list(reversed(items.value)), counted_at=items.at, lists=lists,
                    templates=templates, shown=INDEX_PAGE)

    @post("/", opt=WRITE, sync_to_thread=True, media_type=MediaType.HTML, status_code=303)
    def create(self, ctx: Ctx, request: Request[Any, Any, Any], data: Form) -> Response[Any]:
        checked(request, data)
        name = (data.get("name") or "").strip()
        if not name or len(name) > 255:
            raise ValidationException("a campaign needs a name of at most 255 characters")
        limit = positive_int(data.get("limit"), "the number of addresses") if data.get("audience") == "first" else 0
        if data.get("audience") == "first" and limit < 1:
            raise ValidationException("say how many of the list's addresses to send to (1 or more)")
        try:
            cid = create_campaign(ctx.store, name, data.get("list") or "", data.get("template") or "",
                                  from_address=(data.get("from") or "").strip()[:320],
                                  reply_to=(data.get("reply_to") or "").strip()[:320], limit=limit)
        except CampaignError as exc:
            raise ValidationException(str(exc)) from None
        actor, addr = actor_and_address(request)
        with ctx.store.transaction() as session:
            oplog.record(session, actor, addr, "campaign.create", name, id=cid, list=data.get("list"),
                         template=data.get("template"), limit=limit)
        return back(_here(name), "created")

    @get("/{name:str}", sync_to_thread=True, media_type=MediaType.HTML)
    def show(self, ctx: Ctx, request: Request[Any, Any, Any], name: NameParam) -> Template:
        with ctx.store.reader() as session:
            row = _campaign(session, name)
            plan = session.get(CampaignPlan, row.id)
            template = session.get(MailTemplate, plan.template_id) if plan else None
            mailing_list = session.get(MailingList, row.list_id) if row.list_id else None
            report = campaign_report(session, row, by_domain={})  # per domain: its own page
            replies = review_ops.recent_replies(session, [row.name, str(row.id)])
            first, last = campaign_days(row)
            unsubscribed = counts.failure_addresses(session, first, last, category="unsubscribe_request",
                                                    campaign=row.name, limit=20)
        stats = report.stats
        handled = sum(int(stats.get(k) or 0) for k in ("sent", "failed_at_send", "uncertain"))
        soon = row.scheduled_at is not None and row.scheduled_at <= utcnow() + timedelta(seconds=60)
        refresh = row.status == "sending" or (row.status == "scheduled" and soon)
        return page(request, "campaign.html", c=row, plan=plan, template=template, mailing_list=mailing_list,
                    r=report, stats=stats, handled=handled, planned=planned(ctx, row, plan, stats), refresh=refresh,
                    refresh_seconds=REFRESH, chart=campaign_chart(first, last, report.per_day),
                    replies=replies, unsubscribed=unsubscribed, here=_here(row.name))

    @get("/{name:str}/domains", sync_to_thread=True, media_type=MediaType.HTML)
    def domains(self, ctx: Ctx, request: Request[Any, Any, Any], name: NameParam) -> Template:
        """Sends and returns per recipient domain (the API's ``by_domain``), most recipients first."""
        with ctx.store.reader() as session:
            row = _campaign(session, name)
        # Read from the counts kept as rows are written: milliseconds, but a campaign to 2,000 domains is still
        # tens of thousands of count rows, so on a big database the result is kept like the other aggregates.
        counted = kept.get(ctx.store, ("campaign_domains", row.id), lambda: _top_domains(ctx.store, row.id))
        by_domain, total = counted.value
        rows = sorted(by_domain.items(), key=lambda kv: (-kv[1].get("recipients", 0), kv[0]))
        return page(request, "campaign_domains.html", c=row, domains=rows, total=total, counted_at=counted.at,
                    here=_here(row.name))

    @get("/{name:str}/preflight", sync_to_thread=True, media_type=MediaType.HTML)
    def preflight(self, ctx: Ctx, request: Request[Any, Any, Any], name: NameParam) -> Template:
        """Render every message the campaign would send now; sends and changes nothing (so a GET, read scope)."""
        try:
            loaded, report = preflight_campaign(ctx.settings, ctx.store, name)
        except (CampaignError, ValueError) as exc:
            raise ValidationException(str(exc)) from None
        return page(request, "preflight.html", c=loaded.campaign, report=report, here=_here(loaded.campaign.name))

    @post("/{name:str}/send", opt=WRITE, sync_to_thread=True, status_code=303)
    def send(self, ctx: Ctx, request: Request[Any, Any, Any], name: NameParam, data: Form) -> Redirect:
        """Send now; with ``more`` (``all``, or ``first`` and ``limit``: N members in all), raise the limit first
        and mail only members not mailed yet (the mailer's ``send --limit``)."""
        checked(request, data)
        raised = False
        if data.get("more"):
            limit = 0 if data["more"] == "all" else positive_int(data.get("limit"), "the number of members")
            if data["more"] != "all" and limit < 1:
                raise ValidationException("say how many members in all (those already mailed count), or choose all")
            with ctx.store.reader() as session:
                row = _campaign(session, name)
            try:
                before = set_limit(ctx.store, row.id, limit)  # type: ignore[arg-type]
            except CampaignError as exc:
                raise ValidationException(str(exc)) from None
            raised = before != limit
            if raised:
                actor, addr = actor_and_address(request)
                with ctx.store.transaction() as session:
                    oplog.record(session, actor, addr, "campaign.limit", row.name, before=before, after=limit)
        return self._queue(ctx, request, name, None, more=raised)

    @post("/{name:str}/schedule", opt=WRITE, sync_to_thread=True, status_code=303)
    def schedule(self, ctx: Ctx, request: Request[Any, Any, Any], name: NameParam, data: Form) -> Redirect:
        checked(request, data)
        when = parse_when(data.get("at") or "")
        if when <= utcnow():
            raise ValidationException(f"{when.isoformat()} is in the past: use Send now")
        return self._queue(ctx, request, name, when)

    def _queue(self, ctx: ApiContext, request: Request[Any, Any, Any], name: str, when: Any, more: bool = False
               ) -> Redirect:
        with ctx.store.reader() as session:
            row = _campaign(session, name)
            plan = session.get(CampaignPlan, row.id)
        running = plan is not None and plan.lease_until is not None and plan.lease_until > utcnow()
        if (row.status == "sent" and not more) or running or (plan is not None and plan.paused_by):
            why = "resume it instead" if plan is not None and plan.paused_by else \
                "a run is sending it now" if running else "nothing left to send"
            raise ValidationException(f"campaign {row.name!r} is {row.status}: {why}")
        actor, addr = actor_and_address(request)
        with ctx.store.transaction() as session:  # logged first: an immediate queue runs the send right here
            oplog.record(session, actor, addr, "campaign.schedule" if when else "campaign.send", row.name,
                         at=when.isoformat() if when else "now")
        queue_run(ctx.settings, ctx.store, row.id, ctx.config_path, at=when, tasks=mailer_tasks(request.app))  # type: ignore[arg-type]
        return back(_here(row.name), "scheduled" if when else "queued")

    @post("/{name:str}/pause", opt=WRITE, sync_to_thread=True, status_code=303)
    def pause(self, ctx: Ctx, request: Request[Any, Any, Any], name: NameParam, data: Form) -> Redirect:
        checked(request, data)
        actor, addr = actor_and_address(request)
        with ctx.store.reader() as session:
            row = _campaign(session, name)
        if not pause_campaign(ctx.store, row.id, actor):  # type: ignore[arg-type]
            return back(_here(row.name), "not_paused")
        with ctx.store.transaction() as session:
            oplog.record(session, actor, addr, "campaign.pause", row.name)
        return back(_here(row.name), "paused")

    @post("/{name:str}/resume", opt=WRITE, sync_to_thread=True, status_code=303)
    def resume(self, ctx: Ctx, request: Request[Any, Any, Any], name: NameParam, data: Form) -> Redirect:
        checked(request, data)
        actor, addr = actor_and_address(request)
        with ctx.store.reader() as session:
            row = _campaign(session, name)
        status = resume_campaign(ctx.store, row.id)  # type: ignore[arg-type]
        if not status:
            return back(_here(row.name), "not_paused")
        with ctx.store.transaction() as session:
            oplog.record(session, actor, addr, "campaign.resume", row.name, status=status)
        if status == "sending":
            queue_run(ctx.settings, ctx.store, row.id, ctx.config_path, tasks=mailer_tasks(request.app))  # type: ignore[arg-type]
        return back(_here(row.name), "resumed")


def _top_domains(store: Any, campaign_id: int) -> tuple[dict[str, dict[str, Any]], int]:
    """The domains page's numbers in a session of its own (a kept result is refreshed in another thread)."""
    with store.reader() as session:
        return top_domains(session, session.get(Campaign, campaign_id), DOMAINS_SHOWN)
