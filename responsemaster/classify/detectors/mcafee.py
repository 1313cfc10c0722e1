"""McAfee Email and Web Security Appliance: "Delivery Status", ``X-NAI-Header: Modified by McAfee``.

The appliance sends an RFC 3464 report (read by :mod:`rfc3464`) whose text
part, ``deliveryproblems.txt``, lists "--- The following addresses had
delivery problems ---". It verifies recipients against its directory before
relaying, so its own "550 Unknown user <address>" / "User (<address>)
unknown." is that lookup: a missing mailbox, even though the report names
no SMTP stage (which would otherwise leave the words to mean a filter).
"""

from __future__ import annotations

import re

from responsemaster.classify.detection import Detection
from responsemaster.classify.detectors import rfc3464
from responsemaster.parse import linear
from responsemaster.parse.message import ParsedMessage

name = "mcafee"

_MARK = linear.compile(r"modified by mcafee", re.I)
_UNKNOWN = linear.compile(
    r"\b550 unknown user \S+@\S+|\buser \(\S+@\S+\) unknown\.|\b550 <\S+@\S+>\.+ user not exist|\bno such user\b", re.I
)


def detect(msg: ParsedMessage) -> Detection | None:
    if not _MARK.search(msg.header("X-NAI-Header")) or msg.subject.strip().lower() != "delivery status":
        return None
    found = rfc3464.detect(msg)
    if found is None:
        return None
    found.detector = name
    for rcpt in found.recipients:
        if not rcpt.reason and _UNKNOWN.search(rcpt.diagnostic):
            rcpt.reason, rcpt.decided_by = "userunknown", f"{name}:recipient-verification"
    return found
