"""MailMarshal (Trustwave): "Could not be delivered because of" + reason, then
"The following recipients were affected:" + indented addresses."""

from __future__ import annotations

import re

from responsemaster.classify.detection import Detection
from responsemaster.classify.detectors import _scan
from responsemaster.parse import linear
from responsemaster.parse.message import ParsedMessage

name = "mailmarshal"

_BECAUSE = linear.compile(r"^\s*could not be delivered because of\s*$", re.I)
_AFFECTED = linear.compile(r"^\s*the following recipients were affected:?\s*$", re.I)
_STOP = linear.compile(r"^\s*(?:additional information|={5,})", re.I)


def detect(msg: ParsedMessage) -> Detection | None:
    lines = _scan.body_lines(msg)
    reason = _scan.report_lines(msg, _BECAUSE, _AFFECTED, lines)
    if not reason:
        return None
    affected = _scan.report_lines(msg, _AFFECTED, _STOP, lines)
    addresses = [m.group(0) for line in affected if (m := _scan.ADDRESS.search(line))]
    return _scan.detection(name, [_scan.Block(a, reason) for a in addresses])
