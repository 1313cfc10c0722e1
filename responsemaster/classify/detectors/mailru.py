"""Mail.ru's bounce: a Russian introduction, then Exim's report (see :mod:`exim`)."""

from __future__ import annotations

import re

from responsemaster.classify.detection import Detection
from responsemaster.classify.detectors import _scan, exim
from responsemaster.parse import linear
from responsemaster.parse.message import ParsedMessage

name = "mailru"

_INTRO = linear.compile(r"сервером mail\.ru|не может быть доставлено одному или нескольким получателям", re.I)
_START = linear.compile(r"не может быть доставлено одному или нескольким получателям|" + exim.START.pattern, re.I)


def detect(msg: ParsedMessage) -> Detection | None:
    if not _scan.body_has(msg, _INTRO, 3000):
        return None
    return exim.scan(msg, name, _START)
