"""KDDI (au one net / dion) bounce: "Could not be delivered to: <address>" and a reason line."""

from __future__ import annotations

import re

from responsemaster.classify.detection import Detection
from responsemaster.classify.detectors import _scan
from responsemaster.parse import linear
from responsemaster.parse.message import ParsedMessage

name = "kddi"

_RCPT = linear.compile(r"could not be delivered to:?\s*<?(?P<addr>[^\s<>]+@[^\s<>]+?)>?\s*$", re.I)


def detect(msg: ParsedMessage) -> Detection | None:
    if not _scan.body_has(msg, _RCPT, 3000):
        return None
    lines = _scan.report_lines(msg)
    return _scan.detection(name, _scan.blocks(lines[:40], _RCPT))
