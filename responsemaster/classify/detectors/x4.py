"""qmail-based MTAs that rewrite the introduction ("Your mail message to the following address(es)
could not be delivered"), e.g. with a vdelivermail/child status line under the address."""

from __future__ import annotations

import re

from responsemaster.classify.detection import Detection
from responsemaster.classify.detectors import _scan, qmail
from responsemaster.parse import linear
from responsemaster.parse.message import ParsedMessage

name = "x4"

_INTRO = linear.compile(r"(?:your )?mail message to the following address\(?e?s?\)? could not be delivered|"
                    r"could not be delivered\. this is a permanent error", re.I)


def detect(msg: ParsedMessage) -> Detection | None:
    if not _scan.body_has(msg, _INTRO, 3000):
        return None
    return qmail.scan(msg, _INTRO, name)
