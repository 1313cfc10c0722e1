"""Templates and campaigns in the store; the pre-flight render; the run lease.

A campaign is a list, a stored template, a sender and an optional recipient
limit. Before anything is sent, every recipient's message is rendered once
(the pre-flight): one undefined variable or broken filter anywhere stops
the campaign before its first message, so a list is never half-sent with a
broken template.

Only one process sends a given campaign at a time: the run takes a lease on
its ``campaign_plans`` row (renewed as it goes). A run that dies leaves the
lease to expire, and the next run knows that any row still ``sending`` was
in flight when it died.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlmodel import Session

from mailer.deliveries import FINAL, counted_recipients, iter_members
from mailer.subscribers import find_list
from mailer.templates import CampaignTemplate, TemplateProblem, recipient_context
from responsemaster.store.base import utcnow
from responsemaster.store.database import Store
from responsemaster.store.mailing import CampaignPlan, MailTemplate
from responsemaster.store.subscribers import Campaign, MailingList
from responsemaster.store.upsert import insert_or_update

MAX_REPORTED_ERRORS = 20


class CampaignError(ValueError):
    """A campaign that cannot be created or sent as asked."""


def save_template(store: Store, name: str, subject: str, html: str, text: str) -> int:
    """Create or replace a stored template (compiled first, so a broken one is never saved)."""
    CampaignTemplate(subject, html, text)
    now = utcnow()
    values = {"name": name, "subject": subject, "html": html, "text_body": text, "created_at": now, "updated_at": now}
    with store.transaction() as session:
        insert_or_update(session, MailTemplate.__table__, values, ["name"],  # type: ignore[attr-defined]
                         {"subject": subject, "html": html, "text_body": text, "updated_at": now})
        return session.execute(select(MailTemplate.id).where(MailTemplate.name == name)).scalar_one()


def create_campaign(store: Store, name: str, list_name: str, template_name: str, *, from_address: str = "",
                    reply_to: str = "", limit: int = 0) -> int:
    """A draft campaign of ``template_name`` to ``list_name`` (at most ``limit`` addresses; 0: all)."""
    with store.transaction() as session:
        mailing_list = find_list(session, list_name)
        template = session.execute(select(MailTemplate).where(MailTemplate.name == template_name)).scalars().first()
        if mailing_list is None:
            raise CampaignError(f"no list named {list_name!r}")
        if template is None:
            raise CampaignError(f"no template named {template_name!r}")
        if session.execute(select(Campaign.id).where(Campaign.name == name)).first():
            raise CampaignError(f"a campaign named {name!r} exists already")
        campaign = Campaign(name=name, list_id=mailing_list.id, subject=template.subject[:998], template=template.name)
        session.add(campaign)
        session.flush()
        session.add(CampaignPlan(campaign_id=campaign.id, template_id=template.id,  # type: ignore[arg-type]
                                 from_address=from_address, reply_to=reply_to, recipient_limit=max(0, limit)))
        return campaign.id  # type: ignore[return-value]


def set_limit(store: Store, ref: int | str, limit: int) -> int:
    """Set campaign ``ref``'s recipient limit (0: the whole list); returns the one it replaces.

    The limit counts every member the campaign has been sent to, so raising
    it reaches the next members and never the ones already mailed.
    """
    with store.transaction() as session:
        loaded = load_campaign(session, ref)
        before = loaded.plan.recipient_limit
        session.execute(update(CampaignPlan).where(CampaignPlan.campaign_id == loaded.campaign.id)  # type: ignore[arg-type]
                        .values(recipient_limit=max(0, limit)))
        return before


@dataclass
class Loaded:
    campaign: Campaign
    plan: CampaignPlan
    template: CampaignTemplate
    list_name: str


def load_campaign(session: Session, ref: int | str) -> Loaded:
    """A campaign by id or name, with its plan and compiled template."""
    stmt = select(Campaign).where(Campaign.id == int(ref) if str(ref).isascii() and str(ref).isdigit() else Campaign.name == str(ref))
    campaign = session.execute(stmt).scalars().first()
    if campaign is None:
        raise CampaignError(f"no campaign {ref!r}")
    plan = session.get(CampaignPlan, campaign.id)
    if plan is None:
        raise CampaignError(f"campaign {campaign.name!r} has no send plan (create it with `mailer campaign create`)")
    row = session.get(MailTemplate, plan.template_id)
    mailing_list = session.get(MailingList, campaign.list_id)
    try:
        template = CampaignTemplate(row.subject, row.html, row.text_body)  # type: ignore[union-attr]
    except TemplateProblem as exc:
        raise CampaignError(f"template {row.name!r}: {exc}") from exc  # type: ignore[union-attr]
    return Loaded(campaign, plan, template, mailing_list.name if mailing_list else "")


@dataclass
class PreflightReport:
    rendered: int = 0
    skipped: int = 0
    failures: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failures == 0

    def summary(self) -> str:
        head = f"pre-flight: {self.rendered} rendered, {self.failures} failed, {self.skipped} not to be mailed"
        return "\n".join([head, *(f"  {address}: {error}" for address, error in self.errors)])


def preflight(store: Store, loaded: Loaded, unsubscribe_url: object, batch: int = 500) -> PreflightReport:
    """Render every message the campaign would send now; nothing is sent or written."""
    report = PreflightReport()
    campaign, limit = loaded.campaign, loaded.plan.recipient_limit
    budget = (limit - counted_recipients(store, campaign.id)) if limit else None  # type: ignore[arg-type]
    for recipients in iter_members(store, campaign.list_id, campaign.id, batch):  # type: ignore[arg-type]
        for r in recipients:
            if not r.mailable or r.delivery_status in FINAL:
                report.skipped += 1
                continue
            if r.delivery_id is None and budget is not None:
                if budget <= 0:
                    continue
                budget -= 1
            context = recipient_context(r.subscriber_id, r.address, r.name, r.fields, campaign.name,
                                        unsubscribe_url(r.subscriber_id))  # type: ignore[operator]
            try:
                loaded.template.render(context)
                report.rendered += 1
            except TemplateProblem as exc:
                report.failures += 1
                if len(report.errors) < MAX_REPORTED_ERRORS:
                    report.errors.append((r.address, str(exc)))
    return report


def take_lease(store: Store, campaign_id: int, owner: str, seconds: float) -> bool:
    """Hold the campaign for ``seconds``; False while another live run holds it."""
    now = utcnow()
    with store.transaction() as session:
        result = session.execute(
            update(CampaignPlan).where(
                CampaignPlan.campaign_id == campaign_id,  # type: ignore[arg-type]
                or_(CampaignPlan.lease_until.is_(None), CampaignPlan.lease_until < now,  # type: ignore[union-attr,operator]
                    CampaignPlan.lease_owner == owner))
            .values(lease_owner=owner, lease_until=now + timedelta(seconds=seconds)))
        return (result.rowcount or 0) == 1


def renew_lease(session: Session, campaign_id: int, owner: str, seconds: float) -> None:
    session.execute(update(CampaignPlan).where(CampaignPlan.campaign_id == campaign_id, CampaignPlan.lease_owner == owner)  # type: ignore[arg-type]
                    .values(lease_until=utcnow() + timedelta(seconds=seconds)))


def release_lease(store: Store, campaign_id: int, owner: str) -> None:
    with store.transaction() as session:
        session.execute(update(CampaignPlan).where(CampaignPlan.campaign_id == campaign_id, CampaignPlan.lease_owner == owner)  # type: ignore[arg-type]
                        .values(lease_owner="", lease_until=None))


def set_status(store: Store, campaign_id: int, status: str, *, error: str | None = None,
               scheduled_at: datetime | None = None, started: bool = False, finished: bool = False) -> None:
    """Move a campaign along draft -> scheduled -> sending -> sent (or paused/failed), noting why."""
    now = utcnow()
    with store.transaction() as session:
        campaign = session.get(Campaign, campaign_id)
        plan = session.get(CampaignPlan, campaign_id)
        campaign.status = status  # type: ignore[union-attr]
        if scheduled_at is not None:
            campaign.scheduled_at = scheduled_at  # type: ignore[union-attr]
        if started and campaign.started_at is None:  # type: ignore[union-attr]
            campaign.started_at = now  # type: ignore[union-attr]
        if finished:
            campaign.finished_at = now  # type: ignore[union-attr]
        if plan is not None and error is not None:
            plan.last_error = error
            session.add(plan)
        session.add(campaign)


def pause_campaign(store: Store, campaign_id: int, actor: str) -> bool:
    """Pause by hand: a run stops after its current batch; scheduled or continued runs do not start.

    False when the campaign has nothing left to pause (sent, or already paused by someone).
    """
    with store.transaction() as session:
        campaign, plan = session.get(Campaign, campaign_id), session.get(CampaignPlan, campaign_id)
        if campaign is None or plan is None or campaign.status == "sent" or plan.paused_by:
            return False
        plan.paused_by = actor[:255] or "operator"
        campaign.status = "paused"
        session.add_all([plan, campaign])
        return True


def resume_campaign(store: Store, campaign_id: int) -> str:
    """Lift a pause made by hand; the status to continue from (``scheduled`` while its time is ahead).

    The caller queues a run when the answer is ``sending`` (a scheduled run comes by itself).
    """
    with store.transaction() as session:
        campaign, plan = session.get(Campaign, campaign_id), session.get(CampaignPlan, campaign_id)
        if campaign is None or plan is None or not plan.paused_by:
            return ""
        plan.paused_by = ""
        ahead = campaign.scheduled_at is not None and campaign.scheduled_at > utcnow() and campaign.started_at is None
        campaign.status = "scheduled" if ahead else "sending"
        session.add_all([plan, campaign])
        return campaign.status


def paused_by(store: Store, campaign_id: int) -> str:
    """Who paused the campaign by hand ("" when nobody did); read by a run between batches."""
    with store.reader() as session:
        return session.execute(select(CampaignPlan.paused_by).where(
            CampaignPlan.campaign_id == campaign_id)).scalar_one_or_none() or ""  # type: ignore[arg-type]

