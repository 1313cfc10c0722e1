"""Unnamed qmail-derived MTAs ("Unable to deliver message to the following address(es)").

Sisimai calls this family X2: a one-line "Message from HOST." introduction,
``<address>:`` blocks, and "--- Original message follows.". A variant sends
"Delivery failed: address" lines with "Remote host said[...]:" under them.
"""

from __future__ import annotations

import re

from responsemaster.classify.detection import Detection
from responsemaster.classify.detectors import _scan, qmail
from responsemaster.parse import linear
from responsemaster.parse.message import ParsedMessage

name = "x2"

_INTRO = linear.compile(r"unable to deliver (?:the )?message to the following address|"
                    r"your delivery to the following address has been failed", re.I)
_FAILED = linear.compile(r"^\s*delivery failed:\s*(?P<addr>\S+@\S+)\s*$", re.I)


def detect(msg: ParsedMessage) -> Detection | None:
    if not _scan.body_has(msg, _INTRO, 3000):
        return None
    found = qmail.scan(msg, _INTRO, name)
    if found is not None:
        return found
    lines = _scan.report_lines(msg, start=_INTRO)
    return _scan.detection(name, _scan.blocks(lines, _FAILED))
