"""MailFoundry: "Unable to deliver message to: <address>" then "Delivery failed for the following
reason:" and the remote server's words."""

from __future__ import annotations

import re

from responsemaster.classify.detection import Detection
from responsemaster.classify.detectors import _scan
from responsemaster.parse import linear
from responsemaster.parse.message import ParsedMessage

name = "mailfoundry"

_RCPT = linear.compile(r"^\s*unable to deliver message to:\s*<?(?P<addr>[^\s<>]+@[^\s<>]+?)>?\s*$", re.I)
_STOP = linear.compile(r"^\s*(?:this has been a permanent failure|-{3,})", re.I)


def detect(msg: ParsedMessage) -> Detection | None:
    if not _scan.body_has(msg, _RCPT, 3000):
        return None
    return _scan.detection(name, _scan.blocks(_scan.body_lines(msg)[:80], _RCPT, _STOP))
