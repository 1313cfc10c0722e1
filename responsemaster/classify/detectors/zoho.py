"""Zoho Mail: Exim's introduction, then "address Invalid Address, ERROR_CODE :550, ..." lines."""

from __future__ import annotations

import re

from responsemaster.classify.detection import Detection
from responsemaster.classify.detectors import _scan
from responsemaster.parse import linear
from responsemaster.parse.message import ParsedMessage

name = "zoho"

_RCPT = linear.compile(r"^\s*<?(?P<addr>[^\s<>@]+@[\w.-]+)>?\s+(?P<diag>.*(?:error_code|invalid address|reason).*)$", re.I)
_STOP = linear.compile(r"^\s*(?:received|message-id|from|date|to|subject)\s*:", re.I)


def detect(msg: ParsedMessage) -> Detection | None:
    if "zoho" not in msg.sender and "zoho" not in msg.header("Received").lower():
        return None
    lines = _scan.report_lines(msg, stop=_STOP)
    return _scan.detection(name, _scan.blocks(lines, _RCPT))
