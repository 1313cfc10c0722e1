"""From a collected DSN to its label, and the set written in the corpus format.

Which planned recipients a DSN reports, and whether as failed, delayed or
relayed, is read from the MTA's own RFC 3464 fields (Final-Recipient,
Original-Recipient, Action) for the addresses the lab sent to; never from
its prose. Why each recipient failed comes from the construction: the
entry the receiver actually answered that address with (its log), else the
entry the plan gave it (connect-stage, network and MAIL-stage outcomes).

Labels: failed -> the entry's reason (an expiry after a 4xx keeps the
4xx's cause; refused / silent hosts -> ``expired``; a host that does not
resolve -> ``hostunknown``); delayed -> ``delayed`` (delivery_status);
relayed / delivered -> ``delivered``. A DSN reporting an address the lab
cannot explain is not written (counted as unlabelled).
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from responsemaster.categories import REASON_TO_CATEGORY

from .catalogue import Catalogue, Entry
from .plan import Message
from .receiver import Script

SENDER_KEY = re.compile(r"bounce-([a-z]{2}\d{5})@", re.I)


@dataclass
class Collected:
    mail_from: str
    rcpts: list[str]
    raw: bytes

    @property
    def key(self) -> str:
        for rcpt in self.rcpts:
            found = SENDER_KEY.search(rcpt)
            if found:
                return found.group(1)
        return ""

    def stored(self) -> bytes:
        """The DSN as a mailbox would keep it: Return-Path and Delivered-To on top, LF line ends."""
        head = f"Return-Path: <{self.mail_from.strip('<>')}>\nDelivered-To: {self.rcpts[0]}\n".encode()
        return head + self.raw.replace(b"\r\n", b"\n")


def status_blocks(raw: bytes) -> list[dict[str, str]]:
    """Per-recipient fields of the message/delivery-status part (lower-case addresses)."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    out = []
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        payload = part.get_payload()
        for block in payload if isinstance(payload, list) else []:
            final, action = block.get("Final-Recipient", ""), block.get("Action", "")
            if not final or not action:
                continue
            out.append({
                "final": _address(final),
                "original": _address(block.get("Original-Recipient", "")),
                # "relayed (to non-DSN-aware mailer)": Sendmail comments its actions
                "action": (str(action).strip().lower().split() or [""])[0],
            })
    return out


def _address(field: str) -> str:
    return str(field).split(";", 1)[-1].strip().strip("<>").lower() if field else ""


def label(dsn: Collected, message: Message, script: Script, catalogue: Catalogue) -> dict | None:
    """The corpus label of one DSN, or None if it reports something the lab did not cause."""
    by_address = {}
    for rcpt in message.recipients:
        by_address[rcpt.address.lower()] = rcpt
        by_address[rcpt.seen_as] = rcpt
    recipients, entries = [], []
    for block in status_blocks(dsn.raw):
        rcpt = by_address.get(block["original"]) or by_address.get(block["final"])
        if rcpt is None:
            return None
        if any(r["address"] == rcpt.address for r in recipients):
            continue
        entry = _answered(rcpt, message, script, catalogue)
        action = block["action"]
        if action == "delayed":
            reason = "delayed"
        elif action in ("relayed", "delivered", "expanded"):
            reason = "delivered"
        elif action == "failed" and entry is not None:
            reason = entry.reason
        else:
            return None
        row = {
            "address": rcpt.address, "reason": reason, "category": REASON_TO_CATEGORY[reason].value,
            "status": entry.status if entry else "", "reply_code": str(entry.code) if entry and entry.code else "",
            "stage": entry.stage if entry else "", "catalogue_id": entry.id if entry else "",
        }
        if rcpt.final:
            row["final_recipient"] = rcpt.final
        recipients.append(row)
        entries.append(entry)
    if not recipients:
        return None
    first = entries[0]
    return {
        "category": recipients[0]["category"], "recipients": recipients,
        "source": f"bouncelab:{message.mta}", "mta": message.mta,
        "catalogue_id": first.id if first else "", "provenance": first.provenance if first else "lab construction",
    }


def _answered(rcpt, message: Message, script: Script, catalogue: Catalogue) -> Entry | None:
    said = script.answered.get(rcpt.seen_as) or script.answered.get(message.sender.lower())
    if said and said[0] in catalogue.entries:
        return catalogue.entries[said[0]]
    if said and said[0] == "accepted":
        return None
    return rcpt.entry


def write(out: Path, rows: list[tuple[bytes, dict]]) -> int:
    """Append ``(stored bytes, label)`` pairs to ``out`` as ``<sha16>.eml`` + labels.jsonl."""
    out.mkdir(parents=True, exist_ok=True)
    labels = out / "labels.jsonl"
    known = set()
    if labels.exists():
        known = {json.loads(line)["file"] for line in labels.read_text(encoding="utf-8").splitlines() if line}
    written = 0
    with labels.open("a", encoding="utf-8") as handle:
        for raw, row in rows:
            name = hashlib.sha256(raw).hexdigest()[:16] + ".eml"
            if name in known:
                continue
            known.add(name)
            (out / name).write_bytes(raw)
            handle.write(json.dumps({"file": name, **row}, ensure_ascii=False) + "\n")
            written += 1
    return written
