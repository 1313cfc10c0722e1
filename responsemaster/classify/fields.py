"""The named text fields rules and the model read from a parsed message.

One place builds them so that a rule's ``field = "reply_text"`` and the
model's reply-text feature are the same string.
"""

from __future__ import annotations

from collections.abc import Iterable

from responsemaster.classify.reply_text import extract_reply
from responsemaster.parse.message import ParsedMessage

#: How much body text rules and the model read: bounces and replies say what
#: matters early; the rest is quoted originals and attachments.
BODY_CHARS = 20_000


def message_fields(msg: ParsedMessage, header_fields: Iterable[str] = ()) -> dict[str, str]:
    body = msg.body_text[:BODY_CHARS]
    fields = {
        "subject": msg.subject,
        "from": msg.header("From"),
        "body": body,
        "reply_text": extract_reply(body),
        "original_subject": msg.original_header("Subject"),
        "diagnostic": "",
    }
    for name in header_fields:
        if name.startswith("header:"):
            fields[name] = msg.header(name[len("header:") :])
    return fields
