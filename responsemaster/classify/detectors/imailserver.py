"""Ipswitch IMail Server: "Undeliverable Mail" with "REASON: address" lines.

E.g. "User mailbox exceeds allowed size: user@x", "Delivery failed 20
attempts: user@x", "undeliverable to user@x" followed by "Body of message
generated response:" and the server's reply.
"""

from __future__ import annotations

import re

from responsemaster.classify.detection import Detection
from responsemaster.classify.detectors import _scan
from responsemaster.parse import linear
from responsemaster.parse.message import ParsedMessage

name = "imailserver"

_SUBJECT = linear.compile(r"^undeliverable mail\b", re.I)
_RCPT = linear.compile(r"^\s*(?P<diag>.*?)\s*(?::|\bto)\s+<?(?P<addr>[^\s<>:]+@[\w.-]+)>?\s*$", re.I)
_STOP = linear.compile(r"^\s*original message follows", re.I)


def detect(msg: ParsedMessage) -> Detection | None:
    if not _SUBJECT.search(msg.subject) or not _scan.sender_is_daemon(msg):
        return None
    lines = _scan.report_lines(msg, stop=_STOP)
    found = [b for b in _scan.blocks(lines, _RCPT) if not b.lines or "address book" not in " ".join(b.lines).lower()]
    found = [b for b in found if b.address.lower() not in _scan.own_addresses(msg)]
    return _scan.detection(name, found)
