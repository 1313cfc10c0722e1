"""Abuse feedback reports (ARF, RFC 5965: ``message/feedback-report``) and Hotmail's JMRP.

A complaint is a feedback_loop whatever else the message says. The
complained-about recipients are the original's recipients: every
Original-Rcpt-To the reporter kept (a report may name several), else the To
of the returned original. Microsoft's older complaint format (JMRP) is not
ARF: a message/rfc822 whose headers carry ``X-HmXmrOriginalRecipient``.
"""

from __future__ import annotations

import re

from responsemaster.classify.detection import Detection, recipient
from responsemaster.parse import linear
from responsemaster.parse.fields import address_of
from responsemaster.parse.message import ParsedMessage
from responsemaster.parse.text import header_address

name = "arf"

_RCPT_TO = linear.compile(rb"^original-rcpt-to:[ \t]*(.+?)\r?$", re.I | re.M)
_HOTMAIL = "X-HmXmrOriginalRecipient"


def detect(msg: ParsedMessage) -> Detection | None:
    report = msg.feedback_report
    if report is None:
        return _jmrp(msg)
    feedback_type = report.get("feedback-type", "abuse").strip().lower() or "abuse"
    addresses = _original_rcpt_to(msg) or [address_of(report.get("original-rcpt-to", ""))]
    addresses = [a for a in addresses if "@" in a]
    if not addresses and msg.original_headers is not None:
        to = header_address(msg.original_header("To"))
        addresses = [to] if "@" in to else []
    return Detection(
        detector=name,
        category="feedback_loop",
        reason="feedback",
        recipients=[recipient(a, diagnostic=f"feedback-type: {feedback_type}") for a in addresses],
        feedback_type=feedback_type,
    )


def _original_rcpt_to(msg: ParsedMessage) -> list[str]:
    """Every Original-Rcpt-To field of the report, in order, without duplicates."""
    found: list[str] = []
    for match in _RCPT_TO.finditer(msg.raw[:500_000]):
        address = address_of(match.group(1).decode("utf-8", "replace"))
        if address and address.lower() not in (a.lower() for a in found):
            found.append(address)
    return found[:100]


def _jmrp(msg: ParsedMessage) -> Detection | None:
    address = msg.original_header(_HOTMAIL).strip()
    if "@" not in address:
        return None
    return Detection(
        detector=f"{name}:jmrp",
        category="feedback_loop",
        reason="feedback",
        recipients=[recipient(address, diagnostic="feedback-type: abuse")],
        feedback_type="abuse",
    )
