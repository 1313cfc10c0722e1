"""Postfix's bounce when it arrives without a readable delivery-status part.

"This is the mail system at host HOST." / "This is the Postfix program at
host HOST.", then "<address>: text" lines (continued on indented lines; the
address may be followed by " (expanded from <alias>)").
"""

from __future__ import annotations

import re

from responsemaster.classify.detection import Detection
from responsemaster.classify.detectors import _scan
from responsemaster.parse import linear
from responsemaster.parse.message import ParsedMessage

name = "postfix"

_INTRO = linear.compile(r"this is the (?:mail system|postfix program) at host|"
                    r"could not be delivered to one or more destinations|"
                    r"message could not be delivered to one or more recipients", re.I)
_RCPT = linear.compile(r"^<(?P<addr>[^\s<>]+@[^\s<>]+)>(?:\s*\(expanded from [^)]*\))?\s*:\s*(?P<diag>.*)$", re.I)
_STOP = linear.compile(r"^\s*(?:-{2,}|content-description:)|^--[\w.=/-]{6,}|^\s*reporting-mta:", re.I)


def detect(msg: ParsedMessage) -> Detection | None:
    if not _scan.body_has(msg, _INTRO, 4000):
        return None
    lines = _scan.report_lines(msg, start=_INTRO, stop=None)
    found = _scan.blocks(lines, _RCPT, _STOP)
    return _scan.detection(name, found)
