"""Microsoft Exchange 2000/2003 ("did not reach the following recipient(s):").

Each recipient line is "address on DATE", the reason indented below it, with
an ``MSEXCH:IMS`` code whose hex part (000C05A6 = unknown recipient, ...) is
kept in the diagnostic for the rules to read.
"""

from __future__ import annotations

import re

from responsemaster.classify.detection import Detection
from responsemaster.classify.detectors import _scan
from responsemaster.parse import linear
from responsemaster.parse.message import ParsedMessage

name = "exchange2003"

_INTRO = linear.compile(r"did not reach the following recipient\(?s?\)?|"
                    r"could not be delivered to the following recipient", re.I)
_RCPT = linear.compile(r"^\s*(?P<addr>[^\s@]+@[\w.-]+)\s+on\s+\w+", re.I)


def detect(msg: ParsedMessage) -> Detection | None:
    if not _scan.body_has(msg, _INTRO, 3000):
        return None
    lines = _scan.report_lines(msg, start=_INTRO)
    return _scan.detection(name, _scan.blocks(lines, _RCPT))
