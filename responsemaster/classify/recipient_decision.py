"""One failed recipient's verdict: a final rule, else the recipient model, else the hand-written reading.

The order is the product's policy (docs/bounces.md):

1. a diagnostic rule marked ``final = true`` is an operator's explicit
   override and decides as written;
2. with a trained recipient model, the model decides from the evidence
   (:mod:`~responsemaster.classify.model.recipient_features`), in which the
   hand-written reading (a detector's own reason, the rules that matched,
   :func:`reasons.decide`) is one set of features among the words and codes;
   except where the model is unsure (its calibrated probability below
   :data:`MODEL_SURE`) and a diagnostic rule read the words as another
   category: then the rule's reading decides (see :func:`words_decide`);
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
from typing import TYPE_CHECKING

from responsemaster.categories import Category, category_of
from responsemaster.classify import reasons
from responsemaster.classify.detection import Detection
from responsemaster.classify.model.recipient_features import Evidence, body_text, evidence
from responsemaster.classify.rules import MatchContext, RuleSet
from responsemaster.classify.smtp_text import status_class
from responsemaster.verdict import RecipientVerdict

if TYPE_CHECKING:  # numpy and the model's arrays load when a recipient needs the model (LazyModel)
    from responsemaster.classify.model.recipient_model import RecipientDecision, RecipientModel

#: Confidence of a hand-written decision, by what decided it (the decided_by prefix).
HAND_CONFIDENCE = {"rule": 0.9, "status": 0.85, "detector": 0.9, "reply-code": 0.6, "dsn-action": 0.9}
#: Reasons that say nothing was understood.
NOT_UNDERSTOOD = frozenset({"onhold", "undefined"})
UNSURE = 0.5
#: Below this probability the model gives way to a diagnostic rule that read another category.
#: Chosen on the generated sets only (catalogue and bounce lab, scored group-held-out: the rule
#: was right 42 times and the model 4 times where they disagreed under 0.7-0.8, 48 to 5 under
#: 0.9); docs/bounces.md has the figures.
MODEL_SURE = 0.8
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


def prunable(rcpt: RecipientVerdict, hand_reason: str, hand_confidence: float) -> bool:
    """Whether the evidence is enough to prune at once on a hard verdict (else a person confirms).

    It is when the hand-written reading is hard too, from more than a reply
    code (a rule, a detector, a status the server gave), and, for a missing
    mailbox refused in an SMTP reply, the report says the reply answered
    RCPT TO: the same "user unknown" in answer to DATA is a reception
    filter (docs/bounces.md), and a report that does not say which command
    was refused (OpenSMTPD's, a relay's summary) cannot tell the two apart.
    """
    if category_of(hand_reason) != HARD or hand_confidence < HAND_CONFIDENCE["status"]:
        return False
    return not (hand_reason == "userunknown" and rcpt.reply_code and not rcpt.command)


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


def words_decide(decision: RecipientDecision, hand_reason: str, hand_by: str) -> bool:
    """Whether a diagnostic rule's reading outweighs an unsure model (the model's own probability says so).

    Held out by origin, the model is least reliable on wordings from a
    provider or MTA it never saw, and its calibrated probability then drops;
    a rule written for the words generalises further than what the model
    learned from other origins' texts. A remembered correction is a person's
    answer and always stands.
    """
    return (hand_by.startswith("rule:") and hand_reason not in NOT_UNDERSTOOD
            and not decision.decided_by.endswith(CORRECTED) and decision.confidence < MODEL_SURE
            and str(category_of(hand_reason)) != decision.category)


def recipient_evidence(rules: RuleSet, rcpt: RecipientVerdict, detection: Detection, fields: Mapping[str, str],
                       hand_reason: str, detector_reason: str) -> Evidence:
    return evidence(rcpt, detection.detector, rules, hand_reason, detector_reason,
                    body="" if rcpt.diagnostic else body_text(fields))


def decide(rules: RuleSet, model: RecipientModel | None, rcpt: RecipientVerdict, detection: Detection,
           fields: Mapping[str, str]) -> Evidence | None:
    """Set ``rcpt``'s reason, category, decided_by and confidence; the evidence the model read, if any."""
    detector_reason = rcpt.reason
    hand_reason, decided_by, confidence = hand_decision(rules, rcpt, detection, fields)
    hand_confidence = confidence
    klass = status_class(rcpt.status) or status_class(rcpt.reply_code)
    context = MatchContext(hosts=(rcpt.remote_mta.lower(), rcpt.address.rpartition("@")[2].lower()),
                           command=rcpt.command)
    final = rules.final_match(rcpt.diagnostic, klass, context)
    seen = None
    if final is not None:
        reason, decided_by, confidence = final.rule.reason, final.decided_by, 1.0
    else:
        reason = hand_reason
        if model is not None:
            seen = recipient_evidence(rules, rcpt, detection, fields, hand_reason, detector_reason)
            decision = model.predict(seen, hand_reason)
            if not words_decide(decision, hand_reason, decided_by):
                reason, decided_by, confidence = decision.reason, decision.decided_by, decision.confidence
        if category_of(reason) == HARD and not decided_by.endswith(CORRECTED) and not prunable(rcpt, hand_reason,
                                                                                               hand_confidence):
            confidence = min(confidence, UNSURE)  # learned alone or from a code alone: a person confirms
    if _temporary(rcpt) and category_of(reason) == HARD:
        reason, confidence = "onhold", min(confidence, UNSURE)
    rcpt.reason, rcpt.category = reason, str(category_of(reason))
    rcpt.decided_by, rcpt.confidence = decided_by, round(float(confidence), 4)
    return seen
