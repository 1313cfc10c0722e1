"""One failed recipient's verdict: a final rule, else the recipient model, else the hand-written reading.

The order is the product's policy (docs/bounces.md):

1. a diagnostic rule marked ``final = true`` is an operator's explicit
   override and decides as written;
2. with a trained recipient model, the model decides from the evidence
   (:mod:`~responsemaster.classify.model.recipient_features`), in which the
   hand-written reading (a detector's own reason, the rules that matched,
   :func:`reasons.decide`) is one set of features among the words and codes;
3. without one, the hand-written reading decides.

Then one documented fact bounds every answer: a temporary failure (a 4xx
reply or a 4.x.x status, RFC 5321 section 4.2.1 and RFC 3463) is never a
permanent one, so a hard reason said temporarily becomes ``onhold``.

Confidence: the model's calibrated probability of the category; for the
hand-written reading a fixed figure per kind of evidence
(:data:`HAND_CONFIDENCE`), so that a hard bounce read from a reply code or
from words nobody understood is below any sensible pending-prune threshold.
A hard bounce the model finds where the hand-written reading found no
permanent failure (words no rule knows, a stage or a code alone) is capped
at :data:`UNSURE`: the model may be right, but it prunes only once a person
confirms (docs/bounces.md: uncertain does not prune).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from responsemaster.categories import Category, category_of
from responsemaster.classify import reasons
from responsemaster.classify.detection import Detection
from responsemaster.classify.model.recipient_features import Evidence, body_text, evidence
from responsemaster.classify.model.recipient_model import RecipientModel
from responsemaster.classify.rules import MatchContext, RuleSet
from responsemaster.classify.smtp_text import status_class
from responsemaster.verdict import RecipientVerdict

#: Confidence of a hand-written decision, by what decided it (the decided_by prefix).
HAND_CONFIDENCE = {"rule": 0.9, "status": 0.85, "detector": 0.9, "reply-code": 0.6, "dsn-action": 0.9}
#: Reasons that say nothing was understood.
NOT_UNDERSTOOD = frozenset({"onhold", "undefined"})
UNSURE = 0.5
#: The suffix of ``decided_by`` when a person's remembered correction decided.
CORRECTED = ":correction"

HARD = Category.HARD_BOUNCE


_PERMANENT_CODE = re.compile(r"(?<![\d.])5\d\d(?![\d.])")


def _temporary(rcpt: RecipientVerdict) -> bool:
    """The failure was reported as temporary: a 4.x.x status, or a 4xx reply and no 5xx anywhere in the text."""
    klass = status_class(rcpt.status)
    if klass:
        return klass == "4"
    return status_class(rcpt.reply_code) == "4" and not _PERMANENT_CODE.search(rcpt.diagnostic)


def hand_decision(rules: RuleSet, rcpt: RecipientVerdict, detection: Detection,
                  fields: Mapping[str, str]) -> tuple[str, str, float]:
    """``(reason, decided_by, confidence)`` from the detector's own reason or :func:`reasons.decide`."""
    if rcpt.reason:
        return rcpt.reason, detection.detector, HAND_CONFIDENCE["detector"]
    reason, decided_by = reasons.decide(rules, rcpt, fields, detection)
    if reason in NOT_UNDERSTOOD:
        return reason, decided_by, UNSURE
    kind = decided_by.split(":", 1)[0]
    return reason, decided_by, HAND_CONFIDENCE.get(kind, HAND_CONFIDENCE["detector"])


def recipient_evidence(rules: RuleSet, rcpt: RecipientVerdict, detection: Detection, fields: Mapping[str, str],
                       hand_reason: str, detector_reason: str) -> Evidence:
    return evidence(rcpt, detection.detector, rules, hand_reason, detector_reason,
                    body="" if rcpt.diagnostic else body_text(fields))


def decide(rules: RuleSet, model: RecipientModel | None, rcpt: RecipientVerdict, detection: Detection,
           fields: Mapping[str, str]) -> Evidence | None:
    """Set ``rcpt``'s reason, category, decided_by and confidence; the evidence the model read, if any."""
    detector_reason = rcpt.reason
    hand_reason, decided_by, confidence = hand_decision(rules, rcpt, detection, fields)
    klass = status_class(rcpt.status) or status_class(rcpt.reply_code)
    context = MatchContext(hosts=(rcpt.remote_mta.lower(), rcpt.address.rpartition("@")[2].lower()),
                           command=rcpt.command)
    final = rules.final_match(rcpt.diagnostic, klass, context)
    seen = None
    if final is not None:
        reason, decided_by, confidence = final.rule.reason, final.decided_by, 1.0
    elif model is not None:
        seen = recipient_evidence(rules, rcpt, detection, fields, hand_reason, detector_reason)
        decision = model.predict(seen, hand_reason)
        reason, decided_by, confidence = decision.reason, decision.decided_by, decision.confidence
        if decision.category == HARD and category_of(hand_reason) != HARD and not decided_by.endswith(CORRECTED):
            confidence = min(confidence, UNSURE)  # learned alone, never enough to prune: a person confirms
    else:
        reason = hand_reason
    if _temporary(rcpt) and category_of(reason) == HARD:
        reason, confidence = "onhold", min(confidence, UNSURE)
    rcpt.reason, rcpt.category = reason, str(category_of(reason))
    rcpt.decided_by, rcpt.confidence = decided_by, round(float(confidence), 4)
    return seen
