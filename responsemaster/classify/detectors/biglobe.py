"""BIGLOBE's bounce: "----- The following addresses had delivery problems -----" then
"----- Non-delivered information -----" with the reason."""

from __future__ import annotations

import re

from responsemaster.classify.detection import Detection
from responsemaster.classify.detectors import _scan
from responsemaster.parse import linear
from responsemaster.parse.message import ParsedMessage

name = "biglobe"

_ADDRESSES = linear.compile(r"-+\s*the following addresses had delivery problems\s*-+", re.I)
_INFO = linear.compile(r"-+\s*non-delivered information\s*-+", re.I)
_STOP = linear.compile(r"^\s*-{3,}", re.I)


def detect(msg: ParsedMessage) -> Detection | None:
    if not _scan.body_has(msg, _INFO, 5000):
        return None
    lines = _scan.body_lines(msg)
    addresses = [m.group(0) for l in _scan.report_lines(msg, _ADDRESSES, _STOP, lines) if (m := _scan.ADDRESS.search(l))]
    info = _scan.report_lines(msg, _INFO, _STOP, lines)
    return _scan.detection(name, [_scan.Block(a, info) for a in addresses])
