"""Gmail's own plain-text bounce and delay notice (mailer-daemon@googlemail.com).

Shape: "Delivery to the following recipient failed permanently:" (or "has
been delayed", a delay warning that is never a bounce), the address indented
on the next line, then "Technical details of permanent failure:" and the
remote server's words, up to "----- Original message -----".
"""

from __future__ import annotations

import re

from responsemaster.classify.detection import Detection
from responsemaster.classify.detectors import _scan
from responsemaster.parse import linear
from responsemaster.parse.message import ParsedMessage

name = "gmail"

_INTRO = linear.compile(r"delivery to the following recipients? (?:failed permanently|has been delayed|failed)|"
                    r"technical details of (?:permanent|temporary) failure", re.I)
_RCPT = linear.compile(r"^\s{2,}(?P<addr>[^\s@]+@[\w.-]+)\s*$")
_STOP = linear.compile(r"^\s*-+\s*(?:original message|message header follows)", re.I)
_DELAY = linear.compile(r"has been delayed|warning message only|will be retried", re.I)


def detect(msg: ParsedMessage) -> Detection | None:
    if not _scan.body_has(msg, _INTRO, 4000):
        return None
    lines = _scan.report_lines(msg, start=_INTRO, stop=_STOP)
    found = _scan.blocks(lines, _RCPT)
    detection = _scan.detection(name, found)
    if detection is not None and _scan.body_has(msg, _DELAY, 1500):
        for rcpt in detection.recipients:
            rcpt.action = "delayed"
    return detection
