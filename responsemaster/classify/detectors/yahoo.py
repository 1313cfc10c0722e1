"""Yahoo! Mail's qmail-derived bounce ("Sorry, we were unable to deliver your message")."""

from __future__ import annotations

import re

from responsemaster.classify.detection import Detection
from responsemaster.classify.detectors import _scan, qmail
from responsemaster.parse import linear
from responsemaster.parse.message import ParsedMessage

name = "yahoo"

_INTRO = linear.compile(r"sorry,? we were unable to deliver your message to the following address", re.I)


def detect(msg: ParsedMessage) -> Detection | None:
    if not _scan.body_has(msg, _INTRO, 3000):
        return None
    return qmail.scan(msg, _INTRO, name)
