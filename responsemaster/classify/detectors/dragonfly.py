"""DragonFly Mail Agent (dma): "There was an error delivering your mail to <address>."

The error text follows up to "Message headers follow."; "did not like our
RCPT TO:" names the failed command.
"""

from __future__ import annotations

import re

from responsemaster.classify.detection import Detection
from responsemaster.classify.detectors import _scan
from responsemaster.parse import linear
from responsemaster.parse.message import ParsedMessage

name = "dragonfly"

_RCPT = linear.compile(r"there was an error delivering your mail to <?(?P<addr>[^\s<>]+@[^\s<>]+?)>?\.?\s*$", re.I)
_STOP = linear.compile(r"^\s*message headers follow", re.I)


def detect(msg: ParsedMessage) -> Detection | None:
    if "dragonfly mail agent" not in msg.body_text[:1000].lower():
        return None
    return _scan.detection(name, _scan.blocks(_scan.body_lines(msg), _RCPT, _STOP))
