"""What the classifier hands to the rest of the system.

A verdict crosses every stage boundary (classify -> route -> store -> API), so
it is plain data: frozen-ish dataclasses with a JSON form that is exactly the
command-line contract described in docs/categories.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: Why a message got no category (the ``reason`` of a failure verdict, counted in /metrics).
#: The classifier raised: a bug, reported as such, never dressed up as a guess.
CLASSIFIER_ERROR = "classifier_error"
#: The input is not an e-mail message: no header block, or no sender (classify/not_mail.py).
NOT_MAIL = "not_mail"
#: The parser found nothing usable in it.
UNPARSEABLE = "unparseable"
#: The file could not be read, or does not exist (the command line only).
UNREADABLE = "unreadable"
#: The worker's attempts ran out: every worker that took it died or failed on it.
GAVE_UP = "gave_up"
FAILURE_KINDS = (CLASSIFIER_ERROR, NOT_MAIL, UNPARSEABLE, UNREADABLE, GAVE_UP)


@dataclass
class RecipientVerdict:
    """The outcome for one recipient a bounce or DSN reports on."""

    address: str
    category: str
    reason: str
    status: str = ""
    reply_code: str = ""
    remote_mta: str = ""
    diagnostic: str = ""
    #: The address the mail was delivered to when it differs from ``address``
    #: (a forwarded address bounced). ``address`` is then the original recipient:
    #: the subscriber, whom routing acts on; the bounce itself names this one.
    #: Set only to an address a mailbox could have (the DSN detector decides).
    final_recipient: str = ""
    #: DSN Action field (failed, delayed, delivered, relayed, expanded).
    action: str = ""
    #: The SMTP command the remote server rejected (RCPT, MAIL, DATA, HELO, ...).
    command: str = ""
    #: What decided the reason: ``rmodel:<id>`` (the recipient model), ``rule:<id>``
    #: (a final rule, or the hand-written reading without a model), a detector, ...
    decided_by: str = ""
    #: How sure that decision is (the model's calibrated probability of the category); the
    #: classifier always sets it. Routing holds a hard bounce below its threshold for a person.
    confidence: float = 1.0

    def to_json(self) -> dict[str, Any]:
        """A forwarded address's bounce names the final recipient; the
        subscriber (the original recipient) is in the verdict's attribution, and here as
        ``original_recipient``."""
        data: dict[str, Any] = {
            "address": self.final_recipient or self.address,
            "category": self.category,
            "reason": self.reason,
            "status": self.status,
            "reply_code": self.reply_code,
            "remote_mta": self.remote_mta,
            "diagnostic": self.diagnostic,
            "decided_by": self.decided_by,
            "confidence": round(float(self.confidence), 4),
        }
        if self.final_recipient:
            data["original_recipient"] = self.address
        return data


@dataclass
class Attribution:
    """Who and which campaign a returned message concerns, and how we know."""

    subscriber: str = ""
    campaign: str = ""
    #: verp | message-id | dsn | headers | from | none
    via: str = "none"
    #: True when a VERP/Message-ID token was present but did not verify: the
    #: message must never unsubscribe or prune anybody on the token's word.
    forged_token: bool = False

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "subscriber": self.subscriber,
            "campaign": self.campaign,
            "via": self.via,
        }
        if self.forged_token:
            data["forged_token"] = True
        return data


@dataclass
class Verdict:
    """One returned message, classified; or, with ``error`` set and no category, not classified.

    A failure never carries a category: a guess would send noise or a crash
    down a category's path (a "human reply" forwarded to customer service).
    The worker quarantines such a message whole with ``error`` as the reason.
    """

    category: str | None
    confidence: float
    decided_by: str
    reason: str = ""
    recipients: list[RecipientVerdict] = field(default_factory=list)
    attribution: Attribution = field(default_factory=Attribution)
    #: Set when the message could not be parsed or classified cleanly.
    error: str | None = None
    subject: str = ""
    sender: str = ""
    message_id: str = ""
    #: The human-written part of a reply, without quotes and signature.
    reply_text: str = ""
    #: A new address suggested by a "moved" auto-reply (recorded, not applied).
    suggested_address: str = ""
    #: ARF Feedback-Type for feedback_loop (abuse, fraud, ...).
    feedback_type: str = ""

    @classmethod
    def failure(cls, kind: str, error: str) -> Verdict:
        """No verdict: ``kind`` (one of FAILURE_KINDS) says why, ``error`` in words."""
        return cls(category=None, confidence=0.0, decided_by="error", reason=kind, error=error)

    def to_json(self, file: str | None = None) -> dict[str, Any]:
        """The ``classify --jsonl`` object (docs/categories.md), optional fields only when set."""
        data: dict[str, Any] = {}
        if file is not None:
            data["file"] = file
        data.update(
            {
                "category": self.category,
                "confidence": round(float(self.confidence), 4),
                "decided_by": self.decided_by,
                "reason": self.reason,
                "recipients": [r.to_json() for r in self.recipients],
                "attribution": self.attribution.to_json(),
            }
        )
        if self.error:
            data["error"] = self.error
        if self.suggested_address:
            data["suggested_address"] = self.suggested_address
        if self.feedback_type:
            data["feedback_type"] = self.feedback_type
        return data

    def as_dict(self) -> dict[str, Any]:
        """Everything, for storage."""
        return asdict(self)
