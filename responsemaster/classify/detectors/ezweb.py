"""au by KDDI (EZweb) mail servers: "Each of the following recipients was rejected by a remote
mail server." / "The following recipients did not receive this message:".

Addresses appear as "<address>" or "Recipient: <address>", the server's
answers as ``<<<`` lines. The Japanese preamble is not needed to read them.
A rejection without any server text means the carrier's own reception
filter (its users can refuse mail by domain), hence ``filtered``.
"""

from __future__ import annotations

import re

from responsemaster.classify.detection import Detection
from responsemaster.classify.detectors import _scan
from responsemaster.parse import linear
from responsemaster.parse.message import ParsedMessage

name = "ezweb"

_INTRO = linear.compile(r"each of the following recipients was rejected|"
                    r"the following recipients did not receive this message|"
                    r"your message was not delivered within", re.I)
_RCPT = linear.compile(r"^\s*(?:recipient:\s*)?<(?P<addr>[^\s<>]+@[^\s<>]+)>\s*$", re.I)
_STOP = linear.compile(r"^\s*-{5,}\s*$|^\s*(?:from|to|subject|message-id|received):\s", re.I)


def detect(msg: ParsedMessage) -> Detection | None:
    if "ezweb.ne.jp" not in msg.sender and "au.com" not in msg.sender:
        return None
    if not _scan.body_has(msg, _INTRO, 5000):
        return None
    lines = _scan.report_lines(msg, stop=_STOP)
    found = _scan.blocks(lines, _RCPT)
    intro = [l for l in lines if _INTRO.search(l) or "remote host" in l.lower()]
    detection = _scan.detection(name, [_scan.Block(b.address, b.lines or intro) for b in found])
    if detection is not None:
        for rcpt in detection.recipients:
            if "rejected" in rcpt.diagnostic.lower() and not rcpt.reply_code:
                rcpt.reason = "filtered"
    return detection
