"""Abuse feedback reports (ARF, RFC 5965: ``message/feedback-report``).

A complaint is a feedback_loop whatever else the message says. The
complained-about recipient is the original's recipient: Original-Rcpt-To
when the reporter kept it, else the To of the returned original.
"""

from __future__ import annotations

import email.utils

from responsemaster.classify.detection import Detection, recipient
from responsemaster.parse.fields import address_of
from responsemaster.parse.message import ParsedMessage

name = "arf"


def detect(msg: ParsedMessage) -> Detection | None:
    report = msg.feedback_report
    if report is None:
        return None
    feedback_type = report.get("feedback-type", "abuse").strip().lower() or "abuse"
    address = address_of(report.get("original-rcpt-to", ""))
    if not address and msg.original_headers is not None:
        address = email.utils.parseaddr(msg.original_header("To"))[1]
    found = [recipient(address, diagnostic=f"feedback-type: {feedback_type}")] if "@" in address else []
    return Detection(
        detector=name,
        category="feedback_loop",
        reason="feedback",
        recipients=found,
        feedback_type=feedback_type,
    )
