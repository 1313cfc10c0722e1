"""An unnamed MTA's "Delivery status notification" (Sisimai's X3): a framed report with
"* address" lines and a "Technical details:" section holding "SMTP:RCPT host H: 550 ..."."""

from __future__ import annotations

import re

from responsemaster.classify.detection import Detection
from responsemaster.classify.detectors import _scan
from responsemaster.parse import linear
from responsemaster.parse.message import ParsedMessage

name = "x3"

_INTRO = linear.compile(r"del[ie]very to the following recipients? failed permanently", re.I)
_RCPT = linear.compile(r"^\s*\*\s*(?P<addr>[^\s@]+@[\w.-]+)\s*$")
_DETAILS = linear.compile(r"^\s*technical details:?\s*$", re.I)
_FRAME = linear.compile(r"^\s*={10,}\s*$")


def detect(msg: ParsedMessage) -> Detection | None:
    if not _scan.body_has(msg, _INTRO, 3000):
        return None
    lines = _scan.body_lines(msg)
    addresses = [b.address for b in _scan.blocks(_scan.report_lines(msg, _INTRO, _FRAME, lines), _RCPT)]
    details = _scan.report_lines(msg, _DETAILS, _FRAME, lines)
    return _scan.detection(name, [_scan.Block(a, details) for a in addresses])
