"""qmail's bounce (``qmail-send``) and its many descendants.

Shape: "Hi. This is the qmail-send program at HOST." (or a provider's own
introduction), then ``<address>:`` on a line of its own followed by the error
text, then "--- Below this line is a copy of the message.".
Yahoo!, X2 and X4 are qmail underneath and reuse :func:`scan`.
"""

from __future__ import annotations

import re

from responsemaster.classify.detection import Detection
from responsemaster.classify.detectors import _scan
from responsemaster.parse import linear
from responsemaster.parse.message import ParsedMessage

name = "qmail"

_INTRO = linear.compile(
    r"this is the qmail-send program|i'm afraid i wasn't able to deliver your message|"
    r"(?:^|\s)this is the qmail program",
    re.I,
)
#: ``<user@example.org>:`` alone on a line (some variants add text after the colon).
RCPT = linear.compile(r"^\s*<(?P<addr>[^<>\s]+@[^<>\s]*)>\s*:?\s*(?P<diag>.*)$")
STOP = linear.compile(r"^\s*---\s*(?:below this line|enclosed is a copy|original message)", re.I)


def scan(msg: ParsedMessage, intro: re.Pattern[str], detector: str) -> Detection | None:
    """Address blocks after ``intro`` until the copy of the message."""
    lines = _scan.report_lines(msg, start=intro, stop=STOP)
    return _scan.detection(detector, _scan.blocks(lines, RCPT))


def detect(msg: ParsedMessage) -> Detection | None:
    if not _scan.body_has(msg, _INTRO, 3000):
        return None
    return scan(msg, _INTRO, name)
