"""fml (a Japanese mailing-list manager) refusing a post from a non-member.

The list itself answers "You are not a member of this mailing list <list>";
the list address is the failed recipient and the sender was refused
(``rejected``).
"""

from __future__ import annotations

import re

from responsemaster.classify.detection import Detection
from responsemaster.classify.detectors import _scan
from responsemaster.parse import linear
from responsemaster.parse.message import ParsedMessage

name = "fml"

_REFUSED = linear.compile(r"(?P<diag>you are not a member of this mailing list <(?P<addr>[^\s<>]+@[^\s<>]+)>.*)$", re.I)


def detect(msg: ParsedMessage) -> Detection | None:
    if not (msg.header("X-ML-Name") or msg.header("X-MLServer") or "-admin@" in msg.sender):
        return None
    found = _scan.detection(name, _scan.blocks(_scan.body_lines(msg)[:30], _REFUSED))
    if found is not None:
        for rcpt in found.recipients:
            rcpt.reason = "rejected"
    return found
