"""IBM/Lotus Domino: "Your message ... was not delivered to: ADDRESS because: REASON".

The reason is often localised (Japanese "Domino ディレクトリには見つかりません"
means "not listed in the Domino Directory", i.e. an unknown user).
"""

from __future__ import annotations

import re

from responsemaster.classify.detection import Detection
from responsemaster.classify.detectors import _scan
from responsemaster.parse import linear
from responsemaster.parse.message import ParsedMessage

name = "domino"

_INTRO = linear.compile(r"^\s*was not delivered to:\s*$", re.I)
_BECAUSE = linear.compile(r"^\s*because:\s*$", re.I)


def detect(msg: ParsedMessage) -> Detection | None:
    lines = _scan.report_lines(msg, start=_INTRO)
    if not lines:
        return None
    addresses: list[str] = []
    reason: list[str] = []
    in_reason = False
    for line in lines[:60]:
        if _BECAUSE.match(line):
            in_reason = True
            continue
        if in_reason:
            if not line.strip() and reason:
                break
            reason.append(line)
        elif _scan.ADDRESS.search(line):
            addresses.append(_scan.ADDRESS.search(line).group(0))
    return _scan.detection(name, [_scan.Block(a, reason) for a in addresses])
