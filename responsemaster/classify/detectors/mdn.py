"""Message disposition notifications (read receipts, RFC 8098).

An MDN says what a person's client did with our message; it is
informational (delivery_status / read_receipt) and never a bounce, even when
the disposition is "deleted".
"""

from __future__ import annotations

from responsemaster.classify.detection import Detection, recipient
from responsemaster.parse.fields import address_of
from responsemaster.parse.message import ParsedMessage

name = "mdn"


def detect(msg: ParsedMessage) -> Detection | None:
    report = msg.disposition_notification
    if report is None:
        return None
    address = address_of(report.get("original-recipient", "") or report.get("final-recipient", ""))
    disposition = report.get("disposition", "").strip()
    found = [recipient(address, diagnostic=disposition)] if address else []
    return Detection(detector=name, category="delivery_status", reason="read_receipt", recipients=found)
