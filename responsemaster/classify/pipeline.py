"""Bytes in, verdict out: structure first, then rules, then the model.

The order is the product's policy:

1. structural detectors (ARF, MDN, RFC 3464, MTA formats) recognise reports
   and read every reported recipient's evidence; each failed recipient then
   gets a verdict of its own from the recipient model (or, without one, the
   hand-written reading), see :mod:`~responsemaster.classify.recipient_decision`;
2. message rules (data files) catch what the words of a message make clear:
   challenges, unsubscribe requests, vacation notices, free-text bounces;
3. auto-reply header markers label automatic answers nothing else claimed;
4. the trained model decides the rest.

Classification is pure: it reads no database, no network, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from responsemaster.categories import BOUNCE_CATEGORIES, DEFAULT_REASON, Category
from responsemaster.classify import fallback_addresses, recipient_decision, recipients
from responsemaster.classify.attribution import TokenReader, attribute
from responsemaster.classify.detection import Detection
from responsemaster.classify.detectors import FALLBACK, STRUCTURAL
from responsemaster.classify.fields import message_fields
from responsemaster.classify.model import TextModel
from responsemaster.classify.model.recipient_model import RecipientModel
from responsemaster.classify.not_mail import not_mail_reason
from responsemaster.classify.rules import RuleHit, RuleSet
from responsemaster.parse import linear
from responsemaster.parse.message import ParsedMessage, parse_message
from responsemaster.verdict import CLASSIFIER_ERROR, NOT_MAIL, UNPARSEABLE, RecipientVerdict, Verdict

#: Fields the message-level rules may read (the diagnostic is per recipient).
MESSAGE_FIELDS = ("subject", "reply_text", "body", "from", "original_subject")
#: Categories whose words decide even when the message is dressed as a report:
#: challenge-response services (Boxbe, ...) wrap their challenge in a DSN, but a
#: person must answer it and the address has not failed.
WORDS_BEAT_STRUCTURE = frozenset({Category.CHALLENGE_RESPONSE})

_ACTION_REASON = {"delayed": "delayed", "delivered": "delivered", "relayed": "delivered", "expanded": "delivered"}


class Classifier:
    """Classifies raw messages; cheap to call, expensive only to build."""

    def __init__(
        self,
        rules: RuleSet | None = None,
        model: TextModel | None = None,
        read_token: TokenReader | None = None,
        recipient_model: RecipientModel | None = None,
    ) -> None:
        self.rules = rules if rules is not None else RuleSet.load()
        self.model = model
        self.recipient_model = recipient_model
        self.read_token = read_token
        self._message_fields = [f for f in self.rules.fields() if f in MESSAGE_FIELDS or f.startswith("header:")]

    def classify(self, raw: bytes) -> Verdict:
        """Never raises. Input that is not mail, or that the classifier fails on, gets a
        failure verdict (no category, ``error`` set): never a guess."""
        why = not_mail_reason(raw)
        if why is not None:
            return Verdict.failure(NOT_MAIL, why)
        try:
            return self._classify(raw)
        except Exception as exc:  # noqa: BLE001 - one bad message must not stop a run
            return Verdict.failure(CLASSIFIER_ERROR, f"classifier failed: {type(exc).__name__}: {exc}")

    def _classify(self, raw: bytes) -> Verdict:
        msg = parse_message(raw)
        if msg.error:
            return Verdict.failure(UNPARSEABLE, msg.error)
        fields = message_fields(msg, (f for f in self._message_fields if f.startswith("header:")))
        return self._verdict(msg, fields, self.detect(msg, fields))

    def detect(self, msg: ParsedMessage, fields: Mapping[str, str]) -> Detection:
        """What recognises the message: its category, or its recipients and their evidence (not yet decided)."""
        detection = None
        hit = self.rules.first_match(fields, only=self._message_fields, categories=WORDS_BEAT_STRUCTURE)
        if hit is not None:
            detection = self._from_message_rule(msg, hit)
        if detection is None:
            detection = _first(STRUCTURAL, msg)
        if detection is None:
            hit = self.rules.first_match(fields, only=self._message_fields)
            if hit is not None:
                detection = self._from_message_rule(msg, hit)
        if detection is None:
            detection = _first(FALLBACK, msg)
        if detection is None:
            detection = self._from_model(msg, fields)
        detection.recipients = recipients.clean(detection.recipients, msg)
        return detection

    def _from_message_rule(self, msg: ParsedMessage, hit: RuleHit) -> Detection:
        rule = hit.rule
        detection = Detection(detector=hit.decided_by, category=rule.category, reason=rule.reason, confidence=0.9)
        if rule.category in BOUNCE_CATEGORIES:
            detection.category = None
            detection.recipients = fallback_addresses.recipients(msg)
        return detection

    def _from_model(self, msg: ParsedMessage, fields: Mapping[str, str]) -> Detection:
        if self.model is None:
            return Detection(detector="default", category=Category.USER_REPLY, confidence=0.3)
        category, probability = self.model.predict(msg, fields)
        detection = Detection(detector=f"model:{self.model.model_id}", category=category, confidence=probability)
        if category in BOUNCE_CATEGORIES:
            detection.recipients = fallback_addresses.recipients(msg)
        return detection

    def _verdict(self, msg: ParsedMessage, fields: Mapping[str, str], detection: Detection) -> Verdict:
        for rcpt in detection.recipients:
            self.decide_recipient(rcpt, detection, fields)
        confidence = detection.confidence
        if detection.category:
            category = detection.category
            reason = detection.reason or self._reason_for(category, fields)
        elif detection.recipients:
            first = detection.recipients[0]
            category, reason, confidence = first.category, first.reason, first.confidence
        else:
            category, reason = Category.SOFT_BOUNCE, "undefined"
        is_bounce_like = category in BOUNCE_CATEGORIES or bool(detection.recipients)
        attribution = attribute(msg, detection.recipients, is_bounce_like, self.read_token)
        suggested = detection.suggested_address
        if reason == "moved" and not suggested:
            suggested = _new_address(fields.get("reply_text", ""), {msg.sender, attribution.subscriber.lower()})
        return Verdict(
            category=str(category),
            confidence=confidence,
            decided_by=detection.detector,
            reason=reason,
            recipients=detection.recipients,
            attribution=attribution,
            subject=fields.get("subject", ""),
            sender=msg.sender,
            message_id=msg.header("Message-ID"),
            reply_text=fields.get("reply_text", "") if not is_bounce_like else "",
            suggested_address=suggested,
            feedback_type=detection.feedback_type,
            error=None,
        )

    def _reason_for(self, category: str, fields: Mapping[str, str]) -> str:
        """A finer reason for a category decided without one (e.g. vacation vs moved)."""
        hit = self.rules.first_match(fields, only=MESSAGE_FIELDS, categories=[category], with_reason=True)
        if hit is not None:
            return hit.rule.reason
        return DEFAULT_REASON.get(Category(category), "") if category in Category._value2member_map_ else ""

    def decide_recipient(self, rcpt: RecipientVerdict, detection: Detection, fields: Mapping[str, str]) -> None:
        """Fill in a recipient's reason, category, decided_by and confidence."""
        if detection.category and not _is_bounce(detection.category):
            rcpt.reason = rcpt.reason or detection.reason or DEFAULT_REASON[Category(detection.category)]
            rcpt.category = str(detection.category)
            rcpt.decided_by, rcpt.confidence = detection.detector, detection.confidence
            return
        if rcpt.action in _ACTION_REASON:
            rcpt.reason, rcpt.category, rcpt.decided_by = _ACTION_REASON[rcpt.action], Category.DELIVERY_STATUS, "dsn-action"
            rcpt.confidence = detection.confidence
            return
        recipient_decision.decide(self.rules, self.recipient_model, rcpt, detection, fields)


def _first(detectors: Iterable[object], msg: ParsedMessage) -> Detection | None:
    for detector in detectors:
        found = detector.detect(msg)  # type: ignore[attr-defined]
        if found is not None:
            return found
    return None


#: An address someone could write to (dotted domain): unlike detectors._scan.ADDRESS, which also
#: takes the bare hosts bounces name ("user@mailhub"), a suggested new address must be complete.
_ADDRESS = linear.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


_OLD_ADDRESS = linear.compile(r"^\W{0,3}(?:is|has\s+been|will\s+be)\s+(?:no\s+longer|not|closed|deactivated|discontinued|disabled)", re.I)


def _new_address(text: str, known: set[str]) -> str:
    """The first address in a "moved" notice that is not the sender's own."""
    text = text[:5000]
    for match in _ADDRESS.finditer(text):
        address = match.group(0).strip(".").lower()
        if address in known or address.startswith(("mailer-daemon@", "postmaster@", "noreply@", "no-reply@")):
            continue
        if _OLD_ADDRESS.search(text[match.end() : match.end() + 40]):
            continue  # "x@example.com is no longer in use": the old address, not the new one
        return address
    return ""


def _is_bounce(category: str) -> bool:
    return category in BOUNCE_CATEGORIES
