"""Amazon SES notifications delivered by e-mail (SNS JSON: Bounce, Complaint, Delivery).

The body is JSON, sometimes wrapped in an SNS envelope whose "Message" is
itself a JSON string. bounceType Transient/Permanent, per-recipient status
and diagnosticCode are read as they are; a Delivery notification is a
delivery_status and a Complaint a feedback_loop.
"""

from __future__ import annotations

import json
import re

from responsemaster.classify.detection import Detection, recipient
from responsemaster.classify.smtp_text import clean_diagnostic, find_reply_code
from responsemaster.parse import linear
from responsemaster.parse.message import ParsedMessage

name = "amazonses"

_JSON = linear.compile(r"\{.*\}", re.S)


def detect(msg: ParsedMessage) -> Detection | None:
    text = msg.body_text[:200_000]
    if '"notificationType"' not in text and '\\"notificationType\\"' not in text:
        return None
    data = _notification(text)
    if not data:
        return None
    kind = str(data.get("notificationType", "")).lower()
    if kind == "bounce":
        return _bounce(data.get("bounce") or {})
    if kind == "delivery":
        found = [recipient(a, action="delivered", status="2.0.0") for a in (data.get("delivery") or {}).get("recipients", [])]
        return Detection(detector=name, category="delivery_status", reason="delivered", recipients=found)
    if kind == "complaint":
        complaint = data.get("complaint") or {}
        found = [recipient(r.get("emailAddress", "")) for r in complaint.get("complainedRecipients", [])]
        kind = str(complaint.get("complaintFeedbackType", "abuse") or "abuse")
        return Detection(detector=name, category="feedback_loop", reason="feedback", recipients=found, feedback_type=kind)
    return None


def _notification(text: str) -> dict:
    match = _JSON.search(text)
    if not match:
        return {}
    try:
        data = json.loads(match.group(0), strict=False)
    except ValueError:
        return {}
    if isinstance(data, dict) and isinstance(data.get("Message"), str):
        try:
            data = json.loads(data["Message"], strict=False)
        except ValueError:
            return {}
    return data if isinstance(data, dict) else {}


def _bounce(bounce: dict) -> Detection | None:
    found = []
    for item in bounce.get("bouncedRecipients", []) or []:
        if not isinstance(item, dict) or "@" not in str(item.get("emailAddress", "")):
            continue
        diagnostic = clean_diagnostic(str(item.get("diagnosticCode", "")))
        found.append(
            recipient(
                str(item["emailAddress"]),
                diagnostic=diagnostic,
                status=str(item.get("status", "")),
                reply_code=find_reply_code(diagnostic),
                action=str(item.get("action", "failed")).lower(),
                remote_mta=str(bounce.get("remoteMtaIp", "")),
            )
        )
    return Detection(detector=name, recipients=found) if found else None
