"""What bounces hide inside their text: DSN fields, the returned original, a bounce in a bounce.

Many MTAs (and many broken MIME writers) put the RFC 3464 fields in a
text/plain part, inline the original message after a marker line instead of
attaching it, or return a bounce *of* a bounce. These functions recover that
structure from text so that the detectors and attribution can read it as if
it had been sent properly. Each is bounded and never raises.
"""

from __future__ import annotations

import re
from email.message import Message

from responsemaster.parse import linear
from responsemaster.parse.fields import FieldBlock, parse_field_blocks
from responsemaster.parse.mime import parse_headers

#: A DSN recipient field at the start of a line, where a text part carries one.
_DSN_FIELD = linear.compile(r"^(?:final-recipient|original-recipient)\s*:\s*\S", re.I | re.M)
_DSN_START = linear.compile(r"^(?:reporting-mta|final-recipient|original-recipient|arrival-date)\s*:", re.I | re.M)
_DSN_END = linear.compile(r"^(?:--\S{6,}|content-type\s*:\s*(?:message|text)/(?:rfc822|rfc822-headers))", re.I | re.M)

#: The line after which a plain-text bounce quotes the original message.
_ORIGINAL_MARKER = linear.compile(
    r"^\s*(?:[-=*|_]+\s*)?(?:below this line is a copy of the message|this is a copy of the message|"
    r"original message (?:follows|headers)|the header of the original message|included is a copy of the message|"
    r"unsent message follows|returned message|message headers follow|message text follows|"
    r"-+\s*original message\s*-+|original message header)[^\n]*$",
    re.I | re.M,
)
_HEADER_LINE = linear.compile(r"^[A-Za-z][A-Za-z0-9-]{0,60}:[ \t]?\S?")


def dsn_blocks_in_text(text: str) -> list[FieldBlock]:
    """DSN field blocks written into a text part (per-message block first), or []."""
    if not _DSN_FIELD.search(text[:200_000]):
        return []
    start = _DSN_START.search(text)
    if start is None:
        return []
    end = _DSN_END.search(text, start.start())
    region = text[start.start() : end.start() if end else start.start() + 20_000]
    blocks = parse_field_blocks(region)
    if not any("final-recipient" in b or "original-recipient" in b for b in blocks):
        return []
    return blocks


def inline_original(text: str) -> tuple[Message | None, str]:
    """Headers and body of an original message quoted after a marker line, if any."""
    marker = _ORIGINAL_MARKER.search(text[:200_000])
    if marker is None:
        return None, ""
    rest = text[marker.end() :].lstrip("\r\n")
    lines = rest.splitlines()
    while lines and not lines[0].strip():
        lines.pop(0)
    head: list[str] = []
    for line in lines[:400]:
        if not line.strip():
            break
        if _HEADER_LINE.match(line) or (line[:1] in " \t" and head):
            head.append(line)
        elif head:
            break
        else:
            return None, ""
    if len(head) < 2:
        return None, ""
    try:
        headers = parse_headers("\n".join(head) + "\n")
    except Exception:  # noqa: BLE001
        return None, ""
    body = "\n".join(lines[len(head) + 1 :])
    return headers, body[:100_000]


def reports_in_original(original: Message | None, limit: int = 50) -> list[FieldBlock]:
    """DSN blocks of a bounce returned inside a bounce (an attached multipart/report)."""
    if original is None or not original.is_multipart():
        return []
    for index, part in enumerate(original.walk()):
        if index > limit:
            break
        if part.get_content_type() in ("message/delivery-status", "message/global-delivery-status"):
            payload = part.get_payload()
            if isinstance(payload, list):
                text = "\n\n".join("\n".join(f"{k}: {v}" for k, v in sub.items()) for sub in payload if isinstance(sub, Message))
            else:
                text = str(payload)
            return parse_field_blocks(text)
    return []
