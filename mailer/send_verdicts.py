"""A refusal at send time, recorded exactly like a returned bounce.

When the relay answers 5xx to RCPT or DATA, no bounce will ever come back:
the refusal *is* the bounce. It goes through the same path a returned DSN
takes in the worker: a verdict decided by the classifier's own reason logic
on the server's words (diagnostic rules, then RFC 3463 status, then reply
code), then ``record_message`` and the router's dispositions in the same
transaction, so pruning, suppression, scores and alerts behave identically.
The raw message kept for it is a small RFC 3464 report describing the
refusal, so the verdict history shows it like any other return.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from typing import Any

from sqlalchemy import String, cast, literal
from sqlmodel import Session

from responsemaster.classify.detection import Detection
from responsemaster.classify.pipeline import Classifier
from responsemaster.classify.smtp_text import clean_diagnostic, find_status
from responsemaster.ingest.source import RawMessage
from responsemaster.routing.router import Router
from responsemaster.store.campaign_counts import SEND_SOURCE
from responsemaster.store.database import Store
from responsemaster.store.recording import record_message
from responsemaster.verdict import Attribution, RecipientVerdict, Verdict

#: The raw messages' source of the refusals recorded here (the campaign/domain counts tell them by it).
SOURCE = SEND_SOURCE
DETECTOR = "mailer:smtp-reply"


@dataclass(frozen=True)
class Refusal:
    """What the relay said about one recipient of one attempt."""

    delivery_id: int
    attempt: int
    address: str
    code: int
    text: str
    #: The SMTP command refused: MAIL, RCPT or DATA.
    command: str
    relay_host: str
    campaign: str
    return_path: str
    message_id: str


def verdict_for(refusal: Refusal, classifier: Classifier) -> Verdict:
    """The verdict the classifier's reason logic gives the server's reply, per recipient."""
    diagnostic = clean_diagnostic(f"{refusal.code} {refusal.text}")
    rcpt = RecipientVerdict(
        address=refusal.address, category="", reason="", status=find_status(refusal.text),
        reply_code=str(refusal.code), remote_mta=refusal.relay_host, diagnostic=diagnostic,
        action="failed", command=refusal.command,
    )
    classifier.decide_recipient(rcpt, Detection(detector=DETECTOR), {})
    return Verdict(
        category=rcpt.category, confidence=1.0, decided_by=rcpt.decided_by or DETECTOR, reason=rcpt.reason,
        recipients=[rcpt], attribution=Attribution(refusal.address, refusal.campaign, "verp"),
        subject=f"refused at send time: {refusal.command}", sender=f"MAILER-DAEMON@{refusal.relay_host}",
        message_id=refusal.message_id,
    )


def report_bytes(refusal: Refusal, verdict: Verdict) -> bytes:
    """An RFC 3464 delivery report describing the refusal (what the history keeps)."""
    boundary = "rm-" + secrets.token_hex(8)
    rcpt = verdict.recipients[0]
    lines = [
        f"From: Mail Delivery System <MAILER-DAEMON@{refusal.relay_host}>",
        f"To: <{refusal.return_path}>",
        f"Subject: Undelivered Mail: refused at send time ({refusal.command})",
        f"Message-ID: <send-refusal.{refusal.delivery_id}.{refusal.attempt}@responsemaster.invalid>",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"',
        "", f"--{boundary}", "Content-Type: text/plain; charset=utf-8", "",
        f"The relay {refusal.relay_host} refused <{refusal.address}> at {refusal.command}:",
        f"    {rcpt.diagnostic}", "",
        f"--{boundary}", "Content-Type: message/delivery-status", "",
        "Reporting-MTA: dns; responsemaster-mailer", "",
        f"Final-Recipient: rfc822; {refusal.address}", "Action: failed",
        f"Status: {rcpt.status or ('5.0.0' if refusal.code >= 500 else '4.0.0')}",
        f"Remote-MTA: dns; {refusal.relay_host}", f"Diagnostic-Code: smtp; {rcpt.diagnostic}", "",
        f"--{boundary}", "Content-Type: text/rfc822-headers", "",
        f"Message-ID: {refusal.message_id}", f"To: <{refusal.address}>", f"X-Campaign: {refusal.campaign}", "",
        f"--{boundary}--", "",
    ]
    return "\r\n".join(lines).encode("utf-8", "replace")


def refusal_key(delivery_id: Any, attempt: Any) -> Any:
    """The kept report's key (``send:<delivery id>:<attempt>``, source ``mailer``): a string for two numbers,
    a SQL expression for two columns (how the analytics find a campaign's refusals from its deliveries)."""
    if isinstance(delivery_id, int) and isinstance(attempt, int):
        return f"send:{delivery_id}:{attempt}"
    return literal("send:") + cast(delivery_id, String) + ":" + cast(attempt, String)


def record_refusal(session: Session, store: Store, router: Router, refusal: Refusal, classifier: Classifier) -> Verdict:
    """Record the verdict and apply the dispositions, inside the caller's transaction."""
    verdict = verdict_for(refusal, classifier)
    raw = report_bytes(refusal, verdict)
    msg = RawMessage(SOURCE, refusal_key(refusal.delivery_id, refusal.attempt), raw)
    path = store.raw_files.keep(raw, hashlib.sha256(raw).hexdigest())
    row, verdict_row = record_message(session, msg, verdict, path)
    router.route(session, row, verdict_row, verdict, raw)
    return verdict
