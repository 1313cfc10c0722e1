"""Trend Micro InterScan MSS: "Unable to deliver message to <address> (and other recipients in
the same domain)." with the reason on the same or the previous line."""

from __future__ import annotations

import re

from responsemaster.classify.detection import Detection
from responsemaster.classify.detectors import _scan
from responsemaster.parse import linear
from responsemaster.parse.message import ParsedMessage

name = "trendmicro"

_MARK = linear.compile(r"interscan|trend micro", re.I)
_RCPT = linear.compile(r"(?P<diag>(?:reason:\s*)?unable to deliver message to\s*<(?P<addr>[^\s<>]+@[^\s<>]+)>.*)$", re.I)


def detect(msg: ParsedMessage) -> Detection | None:
    if not (_MARK.search(msg.header("From")) or _scan.body_has(msg, _MARK, 2000)):
        return None
    found = _scan.detection(name, _scan.blocks(_scan.body_lines(msg)[:60], _RCPT))
    if found is not None:
        # InterScan says only this when the next hop refused the recipient at RCPT time.
        found.reason = "userunknown"
    return found
