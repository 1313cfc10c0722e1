"""Verizon Wireless (vtext.com) and Apache James' JavaMail notices: "Error: ...", "Error message
below:" with the server's reply, and "Message details:" naming "RCPT TO: address"."""

from __future__ import annotations

import re

from responsemaster.classify.detection import Detection
from responsemaster.classify.detectors import _scan
from responsemaster.parse import linear
from responsemaster.parse.message import ParsedMessage

name = "verizon"

_DETAILS = linear.compile(r"^\s*message details:\s*$", re.I)
_RCPT_TO = linear.compile(r"^\s*rcpt to:\s*<?(?P<addr>[^\s<>]+@[^\s<>]+?)>?\s*$", re.I)
_ERROR = linear.compile(r"^\s*error(?: message below)?:", re.I)


def detect(msg: ParsedMessage) -> Detection | None:
    lines = _scan.body_lines(msg)
    details = _scan.report_lines(msg, _DETAILS, None, lines)
    if not details:
        return None
    addresses = [m.group("addr") for line in details[:20] if (m := _RCPT_TO.match(line))]
    said = []
    for line in lines:
        if _DETAILS.match(line):
            break
        if said or _ERROR.match(line):
            said.append(line)
    return _scan.detection(name, [_scan.Block(a, said) for a in addresses])
