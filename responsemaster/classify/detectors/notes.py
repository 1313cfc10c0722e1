"""Lotus Notes' SMTP MTA: "------- Failure Reasons --------", reason lines, then the address.

Seen with Japanese reasons in ISO-2022-JP; the address is the last line of
the section before "------- Returned Message --------".
"""

from __future__ import annotations

import re

from responsemaster.classify.detection import Detection
from responsemaster.classify.detectors import _scan
from responsemaster.parse import linear
from responsemaster.parse.message import ParsedMessage

name = "notes"

_START = linear.compile(r"^-+\s*failure reasons\s*-+", re.I)
_STOP = linear.compile(r"^-+\s*returned message\s*-+", re.I)


def detect(msg: ParsedMessage) -> Detection | None:
    lines = _scan.report_lines(msg, start=_START, stop=_STOP)
    if not lines:
        return None
    reasons: list[str] = []
    found: list[_scan.Block] = []
    for line in lines:
        match = _scan.ADDRESS.search(line)
        if match and line.strip() == match.group(0):
            found.append(_scan.Block(match.group(0), list(reasons)))
            reasons = []
        elif line.strip():
            reasons.append(line)
    return _scan.detection(name, found)
