"""Sending one campaign: pre-flight, stream, mark, send, record; then retries; then report.

The pipeline per batch of recipients (read in keyset order): drop anyone
suppressed *now* (a bounce may have pruned them since the pre-flight),
render and compose, mark the batch ``sending`` in one transaction, and hand
it to the SMTP engine, whose bounded queue keeps about two batches in
flight. Outcomes are written back in batches from a thread, so the event
loop keeps sending while the database commits. Deferred (4xx) recipients
due soon are retried in the same run; later ones are left for the next run,
which the Huey task schedules at ``next_run_at``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import update

from mailer import deliveries as dl
from mailer.campaigns import Loaded, paused_by, preflight, release_lease, renew_lease, set_status, take_lease
from mailer.compose import Composer
from mailer.relays import RelayState, load_states, next_budget_at
from mailer.send_verdicts import Refusal, record_refusal
from mailer.settings import MailerSettings
from mailer.smtp_engine import DomainThrottle, Job, Outcome, SmtpEngine
from mailer.templates import TemplateProblem, recipient_context
from responsemaster.store.base import clip, domain_of, utcnow
from responsemaster.store.database import Store
from responsemaster.store.platform import Delivery

log = logging.getLogger("responsemaster.mailer")


@dataclass
class RunResult:
    campaign: str
    status: str = ""
    counts: Counter[str] = field(default_factory=Counter)
    preflight_errors: list[tuple[str, str]] = field(default_factory=list)
    next_run_at: datetime | None = None
    note: str = ""


class CampaignRun:
    """One run of one campaign by one process (holding the campaign's lease)."""

    def __init__(self, store: Store, settings: MailerSettings, loaded: Loaded, router: object, classifier: object,
                 owner: str) -> None:
        self.store, self.settings, self.loaded = store, settings, loaded
        self.router, self.classifier, self.owner = router, classifier, owner
        campaign, plan = loaded.campaign, loaded.plan
        self.campaign_id: int = campaign.id  # type: ignore[assignment]
        self.composer = Composer(settings, self.campaign_id, campaign.name, plan.from_address or settings.from_address,
                                 plan.reply_to or settings.reply_to)
        self.result = RunResult(campaign.name)
        self.outcomes: list[Outcome] = []
        self.relays: list[RelayState] = []
        self.engine: SmtpEngine | None = None
        #: New recipients the limit still allows (None: no limit).
        self.remaining: int | None = None
        #: Who paused the campaign by hand, as seen between batches ("" while nobody has).
        self.paused_by = ""

    def unsubscribe_url(self, subscriber_id: int) -> str:
        return self.composer.unsubscribe_url(self.composer.token(subscriber_id))

    async def run(self) -> RunResult:
        if not await asyncio.to_thread(take_lease, self.store, self.campaign_id, self.owner, self.settings.lease_seconds):
            self.result.status, self.result.note = "busy", "another run holds this campaign"
            return self.result
        try:
            return await self._run_leased()
        finally:
            await asyncio.to_thread(release_lease, self.store, self.campaign_id, self.owner)

    async def _run_leased(self) -> RunResult:
        self.paused_by = await asyncio.to_thread(paused_by, self.store, self.campaign_id)
        if self.paused_by:
            self.result.status, self.result.note = "paused", f"paused by {self.paused_by}"
            return self.result
        report = await asyncio.to_thread(preflight, self.store, self.loaded, self.unsubscribe_url, self.settings.batch_size)
        if not report.ok:
            self.result.status, self.result.preflight_errors = "preflight_failed", report.errors
            self.result.note = report.summary()
            await asyncio.to_thread(set_status, self.store, self.campaign_id, "draft", error=self.result.note)
            return self.result
        await asyncio.to_thread(self._start)
        self.engine = SmtpEngine(self.relays, DomainThrottle(self.settings.per_domain_rate, self.settings.domain_rates),
                                 self.outcomes.append, max_in_flight=2 * self.settings.batch_size)
        self.engine.start()
        try:
            budget = self.loaded.plan.recipient_limit
            self.remaining = (budget - await asyncio.to_thread(dl.counted_recipients, self.store, self.campaign_id)) if budget else None
            await self._pass(dl.iter_members(self.store, self.loaded.campaign.list_id, self.campaign_id, self.settings.batch_size))  # type: ignore[arg-type]
            await self._retries()
            await self.engine.drain()
        finally:
            await self.engine.close()
            await asyncio.to_thread(self._flush)
        return await asyncio.to_thread(self._finish)

    def _start(self) -> None:
        with self.store.transaction() as session:
            interrupted = dl.resolve_interrupted(session, self.campaign_id)
            self.relays = load_states(session, self.settings.relays)
        if interrupted:
            log.warning("campaign %s: %d rows were in flight when a run died: marked uncertain", self.loaded.campaign.name, interrupted)
        self.result.counts["uncertain_from_previous_run"] = interrupted
        set_status(self.store, self.campaign_id, "sending", started=True)

    async def _retries(self) -> None:
        """Retry deferred recipients whose backoff ends within ``in_run_retry_seconds``."""
        assert self.engine is not None
        while not self.engine.exhausted.is_set() and not self.paused_by:
            await self.engine.drain()
            await asyncio.to_thread(self._flush)
            due = await asyncio.to_thread(dl.next_retry_at, self.store, self.campaign_id)
            if due is None:
                return
            wait = (due - utcnow()).total_seconds()
            if wait > self.settings.in_run_retry_seconds:
                return
            await asyncio.sleep(max(0.0, wait))
            await self._pass(dl.iter_due_retries(self.store, self.loaded.campaign.list_id, self.campaign_id, self.settings.batch_size))  # type: ignore[arg-type]

    async def _pass(self, batches: Iterator[list[dl.Recipient]]) -> None:
        assert self.engine is not None
        while not self.engine.exhausted.is_set():
            self.paused_by = await asyncio.to_thread(paused_by, self.store, self.campaign_id)
            if self.paused_by:
                return
            batch = await asyncio.to_thread(next, batches, None)
            if batch is None:
                return
            jobs = await asyncio.to_thread(self._mark_batch, batch)
            unsent = []
            for job in jobs:
                if not await self.engine.submit(job):
                    unsent.append(job.delivery_id)
            if unsent:
                await asyncio.to_thread(self._release, unsent)
            if len(self.outcomes) >= self.settings.batch_size:
                await asyncio.to_thread(self._flush)

    def _select(self, batch: list[dl.Recipient]) -> tuple[list[dl.Recipient], list[dl.Recipient]]:
        """(to send, to log as suppressed): the suppression list and statuses are read per batch."""
        now, send, skip = utcnow(), [], []
        for r in batch:
            if r.delivery_status in dl.FINAL or r.delivery_status == "sending":
                continue
            if not r.mailable:
                skip.append(r)
            elif r.delivery_status == "deferred" and r.next_attempt_at and r.next_attempt_at > now:
                continue
            elif r.delivery_id is None and self.remaining is not None:
                if self.remaining > 0:
                    self.remaining -= 1
                    send.append(r)
                else:
                    self.result.counts["held_back_by_limit"] += 1
            else:
                send.append(r)
        return send, skip

    def _mark_batch(self, batch: list[dl.Recipient]) -> list[Job]:
        """Render and compose, then mark ``sending`` (committed) before anything goes out."""
        send, skip = self._select(batch)
        composed, broken = [], []
        for r in send:
            token = self.composer.token(r.subscriber_id)
            context = recipient_context(r.subscriber_id, r.address, r.name, r.fields, self.loaded.campaign.name,
                                        self.composer.unsubscribe_url(token))
            try:
                envelope = self.composer.compose(r.subscriber_id, r.address, r.name, self.loaded.template.render(context),
                                                 token, r.message_id or None)
            except TemplateProblem as exc:  # data changed since the pre-flight
                broken.append((r, str(exc)))
                continue
            composed.append((r, envelope))
        with self.store.transaction() as session:
            dl.mark_suppressed(session, self.campaign_id, skip)
            ids = dl.mark_sending(session, self.campaign_id, [(r, e.mail_from, e.message_id) for r, e in composed + [(r, _NO) for r, _ in broken]])
            for r, error in broken:
                session.execute(update(Delivery).where(Delivery.id == ids[r.subscriber_id][0]).values(status="failed", last_error=clip(error)))  # type: ignore[arg-type]
        self.result.counts["suppressed"] += len(skip)
        return [Job(ids[r.subscriber_id][0], r.subscriber_id, domain_of(r.address), ids[r.subscriber_id][1], e) for r, e in composed]

    def _release(self, delivery_ids: list[int]) -> None:
        with self.store.transaction() as session:
            dl.release_unsent(session, delivery_ids)

    def _flush(self) -> None:
        """Write outcomes, relay usage and send-time verdicts in one transaction."""
        outcomes, self.outcomes[:] = list(self.outcomes), []
        if not outcomes and not any(r.unflushed for r in self.relays):
            return
        updates, refusals = [], []
        for outcome in outcomes:
            row, refusal = self._row_for(outcome)
            updates.append(row)
            if refusal is not None:
                refusals.append(refusal)
            self.result.counts[row["status"]] += 1
        with self.store.transaction() as session:
            if updates:
                session.execute(update(Delivery), updates)
            for relay in self.relays:
                relay.flush(session)
            for refusal in refusals:
                self._record(session, refusal)
            if refusals:
                self.store.raw_files.sync()  # the kept reports are on disk before the commit names them
            renew_lease(session, self.campaign_id, self.owner, self.settings.lease_seconds)

    def _row_for(self, outcome: Outcome) -> tuple[dict[str, object], Refusal | None]:
        job, now = outcome.job, utcnow()
        row: dict[str, object] = {"id": job.delivery_id, "last_error": clip(f"{outcome.code} {outcome.text}".strip() if outcome.code else outcome.text)}
        if outcome.relay is not None:
            row["relay"] = outcome.relay.name
        status = outcome.status
        if status == "deferred" and job.attempt >= self.settings.max_attempts:
            status = "failed"
        if status == "deferred":
            row["next_attempt_at"] = now + dl.backoff(job.attempt, self.settings.retry_base_seconds, self.settings.retry_max_seconds)
        elif status == "requeue":
            status = "queued"
        elif status == "sent":
            row["sent_at"], row["last_error"] = now, ""
        row["status"] = status
        refusal = None
        if status == "failed" and outcome.code:
            refusal = Refusal(job.delivery_id, job.attempt, job.envelope.rcpt_to, outcome.code, outcome.text,
                              outcome.command, outcome.relay.settings.host if outcome.relay else "relay",
                              self.loaded.campaign.name, job.envelope.mail_from, job.envelope.message_id)
        return row, refusal

    def _record(self, session: object, refusal: Refusal) -> None:
        """A refusal is a verdict; a failure to record it must not lose the delivery states."""
        try:
            with session.begin_nested():  # type: ignore[attr-defined]
                record_refusal(session, self.store, self.router, refusal, self.classifier)  # type: ignore[arg-type]
            self.result.counts["verdicts_recorded"] += 1
        except Exception:
            log.exception("campaign %s: cannot record the refusal of %s", self.loaded.campaign.name, refusal.address)

    def _finish(self) -> RunResult:
        counts = dl.status_counts(self.store, self.campaign_id)
        pending = counts.get("queued", 0) + counts.get("deferred", 0)
        if self.paused_by:  # by hand: stays paused (and unscheduled) until resumed
            self.result.status, self.result.note = "paused", f"paused by {self.paused_by}"
            set_status(self.store, self.campaign_id, "paused")
            return self.result
        if self.engine is not None and self.engine.exhausted.is_set():
            self.result.status, self.result.note = "paused", self.engine.reason
            self.result.next_run_at = next_budget_at(self.relays)
        elif pending:
            self.result.status = "sending"
            self.result.next_run_at = dl.next_retry_at(self.store, self.campaign_id) or utcnow()
        else:
            self.result.status = "sent"
        set_status(self.store, self.campaign_id, self.result.status, finished=self.result.status == "sent",
                   error=self.result.note or "")
        return self.result


class _NoEnvelope:
    mail_from = ""
    message_id = ""


_NO = _NoEnvelope()
