"""RFC 3464 delivery status notifications (``message/delivery-status``).

Also RFC 6533's ``message/global-delivery-status``. Every recipient block
becomes a recipient; when a forwarded address bounced, Original-Recipient
names the address we mailed (our subscriber) while Final-Recipient names
where it was forwarded, so Original-Recipient wins.
"""

from __future__ import annotations

from responsemaster.classify.detection import Detection, recipient
from responsemaster.classify.smtp_text import clean_diagnostic, find_reply_code, find_status
from responsemaster.parse.fields import FieldBlock, address_of, mta_of
from responsemaster.parse.message import ParsedMessage

name = "rfc3464"


def detect(msg: ParsedMessage) -> Detection | None:
    blocks = msg.delivery_status
    if not blocks:
        return None
    per_message = blocks[0] if not _is_recipient_block(blocks[0]) else {}
    recipients = [_recipient(block, per_message) for block in blocks if _is_recipient_block(block)]
    recipients = [r for r in recipients if r.address]
    if not recipients:
        return None
    return Detection(detector=name, recipients=recipients)


def _is_recipient_block(block: FieldBlock) -> bool:
    return "final-recipient" in block or "original-recipient" in block


def _recipient(block: FieldBlock, per_message: FieldBlock):
    original = address_of(block.get("original-recipient", ""))
    final = address_of(block.get("final-recipient", ""))
    diagnostic = clean_diagnostic(block.get("diagnostic-code", ""))
    status = find_status(block.get("status", "")) or find_status(diagnostic)
    return recipient(
        original or final,
        final_recipient=final if original and final and final.lower() != original.lower() else "",
        status=status,
        reply_code=find_reply_code(diagnostic),
        remote_mta=mta_of(block.get("remote-mta", "")),
        diagnostic=diagnostic,
        action=block.get("action", "").strip().lower(),
    )
