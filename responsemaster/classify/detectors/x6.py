"""An unnamed gateway's "There was an error sending your mail" (Sisimai's X6):
"SMTP Server <host> rejected recipient <address> (Error following RCPT command).
It responded as follows: [550 5.1.1 User unknown]"."""

from __future__ import annotations

import re

from responsemaster.classify.detection import Detection
from responsemaster.classify.detectors import _scan
from responsemaster.parse import linear
from responsemaster.parse.message import ParsedMessage

name = "x6"

_RCPT = linear.compile(r"(?P<diag>smtp server <[^>]*> rejected recipient <(?P<addr>[^\s<>]+@[^\s<>]+)>.*)$", re.I)


def detect(msg: ParsedMessage) -> Detection | None:
    if not _scan.body_has(msg, _RCPT, 5000):
        return None
    return _scan.detection(name, _scan.blocks(_scan.body_lines(msg)[:80], _RCPT, _scan.ORIGINAL))
