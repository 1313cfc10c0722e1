"""The named text fields rules and the model read from a parsed message.

One place builds them so that a rule's ``field = "reply_text"`` and the
model's reply-text feature are the same string.
"""

from __future__ import annotations

from collections.abc import Iterable

from responsemaster.parse.message import ParsedMessage

#: How much body text rules and the model read: bounces and replies say what
#: matters early; the rest is quoted originals and attachments.
BODY_CHARS = 20_000


class MessageFields(dict[str, str]):
    """The fields, with the reply text extracted only when something reads it.

    Extraction looks at every line with a dozen patterns; a bounce decided by
    its structure never needs it, so it is not paid for there, nor is the
    compiling of those patterns (the module is imported here: 3% of a
    one-file ``classify``'s instructions).
    """

    def __missing__(self, key: str) -> str:
        if key != "reply_text":
            raise KeyError(key)
        from responsemaster.classify.reply_text import extract_reply

        value = self["reply_text"] = extract_reply(self["body"])
        return value

    def get(self, key: str, default: str = "") -> str:  # type: ignore[override]
        try:
            return self[key]
        except KeyError:
            return default


def message_fields(msg: ParsedMessage, header_fields: Iterable[str] = ()) -> MessageFields:
    body = msg.body_text[:BODY_CHARS]
    fields = MessageFields(
        subject=msg.subject,
        body=body,
        original_subject=msg.original_header("Subject"),
        diagnostic="",
    )
    fields["from"] = msg.header("From")
    for name in header_fields:
        if name.startswith("header:"):
            fields[name] = msg.header(name[len("header:") :])
    return fields
