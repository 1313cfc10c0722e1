"""Google Groups refusing a post: the group's address is the failed recipient.

The notice names the group in the text and in X-Failed-Recipients; whatever
the wording (it is localised), the list refused the sender, so the reason is
``rejected`` (a mail_block: our message was refused, the address is fine).
"""

from __future__ import annotations

import re

from responsemaster.classify.detection import Detection, recipient
from responsemaster.classify.detectors import _scan
from responsemaster.parse import linear
from responsemaster.parse.message import ParsedMessage

name = "googlegroups"

_GROUPS = linear.compile(r"google groups|groups\.google\.com|googlegroups|google グループ", re.I)
_FAILED = linear.compile(r"^\s*(?:the response was|unspecified error).*", re.I)


def detect(msg: ParsedMessage) -> Detection | None:
    if "google" not in msg.sender and "google" not in msg.header("Received").lower():
        return None
    failed = [a.strip() for a in msg.header("X-Failed-Recipients").split(",") if "@" in a]
    if not failed or not (_scan.body_has(msg, _GROUPS) or "groups" in failed[0].lower()):
        return None
    text = " ".join(line.strip() for line in _scan.body_lines(msg)[:40] if line.strip())
    return Detection(
        detector=name,
        recipients=[recipient(a, diagnostic=_scan.clean_diagnostic(text)[:500], reason="rejected") for a in failed],
    )
