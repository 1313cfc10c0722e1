"""Turn raw bytes into a :class:`ParsedMessage` without ever losing them.

The MIME structure comes from :mod:`responsemaster.parse.mime`, which builds
the standard library's lenient compat32 ``Message`` tree by string search;
everything above it (charset fallbacks, depth and size limits, report parts,
the returned original) is done here. Parsing never raises: problems are
recorded in ``defects`` and, when nothing usable came out, in ``error``.
"""

from __future__ import annotations

import email.parser
import email.policy
from dataclasses import dataclass, field
from functools import cached_property
from email.message import Message

from responsemaster.parse.embedded import dsn_blocks_in_text, inline_original, reports_in_original
from responsemaster.parse.fields import FieldBlock, parse_field_blocks
from responsemaster.parse.mime import ParametersIgnoredDefect, parse_bytes, parse_headers
from responsemaster.parse.text import decode_header_value, header_address, html_to_text, part_text

#: Limits that keep time and memory bounded on hostile input.
MAX_PARTS = 400
MAX_DEPTH = 30
MAX_BODY_CHARS = 300_000

_REPORT_TYPES = {
    "message/delivery-status": "delivery-status",
    "message/global-delivery-status": "delivery-status",
    "message/feedback-report": "feedback-report",
    "message/disposition-notification": "disposition-notification",
    "message/global-disposition-notification": "disposition-notification",
}
#: Fields that make a delivery-status part a DSN (RFC 3464) rather than prose under a DSN label.
_DSN_FIELDS = frozenset({"reporting-mta", "final-recipient", "original-recipient", "action", "status", "diagnostic-code"})
_ORIGINAL_TYPES = ("message/rfc822", "message/global", "text/rfc822-headers", "message/global-headers")


@dataclass
class ParsedMessage:
    """A message broken into the fields the detectors and the model read."""

    raw: bytes
    headers: Message
    body_text: str = ""
    #: Field blocks of a message/delivery-status part: block 0 is per-message.
    delivery_status: list[FieldBlock] = field(default_factory=list)
    feedback_report: FieldBlock | None = None
    disposition_notification: FieldBlock | None = None
    #: Headers of the returned original message, when attached.
    original_headers: Message | None = None
    content_types: list[str] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    error: str | None = None
    #: The returned original's body: its text, or its parsed message (decoded on first use).
    original_body: str | Message | None = field(default=None, repr=False)

    @cached_property
    def original_text(self) -> str:
        """The returned original's first text part.

        Decoded on demand: nothing on the classification path reads it, and
        decoding a returned newsletter (HTML to text) was a tenth of the time.
        """
        body = self.original_body
        if not isinstance(body, Message):
            return (body or "")[:MAX_BODY_CHARS]
        try:
            return _first_text(body)
        except Exception:  # noqa: BLE001 - a broken original must not break a reader
            self.defects.append("returned original could not be decoded")
            return ""

    def header(self, name: str, source: Message | None = None) -> str:
        """A decoded header value (the first of its name), '' when absent."""
        msg = self.headers if source is None else source
        index = self._index(msg)
        key = name.lower()
        decoded = index[1].get(key)
        if decoded is None:
            value = index[0].get(key)
            decoded = index[1][key] = decode_header_value(value) if value is not None else ""
        return decoded

    def _index(self, msg: Message) -> tuple[dict[str, str], dict[str, str]]:
        """(lower-cased name -> first raw value, name -> decoded value so far), once per header block.

        ``Message.get`` lower-cases every header name on every call, and the
        detectors ask for a few dozen headers per message, many of them twice.
        """
        cache: dict[int, tuple[Message, tuple[dict[str, str], dict[str, str]]]]
        cache = self.__dict__.setdefault("_header_index", {})
        entry = cache.get(id(msg))
        if entry is None or entry[0] is not msg:
            raw: dict[str, str] = {}
            for key, value in reversed(msg.items()):
                raw[key.lower()] = value
            entry = cache[id(msg)] = (msg, (raw, {}))
        return entry[1]

    def original_header(self, name: str) -> str:
        if self.original_headers is None:
            return ""
        return self.header(name, self.original_headers)

    @cached_property
    def subject(self) -> str:
        return self.header("Subject")

    @cached_property
    def sender(self) -> str:
        """The bare From address, lower-cased."""
        return header_address(self.header("From")).lower()

    @cached_property
    def content_type(self) -> str:
        return self.headers.get_content_type()

    @property
    def is_report(self) -> bool:
        return self.content_type == "multipart/report"


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse ``raw``; never raises."""
    try:
        msg = parse_bytes(raw)
    except (RecursionError, Exception) as exc:  # noqa: BLE001 - the parser's failures are data
        return _headers_only(raw, f"MIME structure could not be parsed: {type(exc).__name__}")
    parsed = ParsedMessage(raw=raw, headers=msg)
    try:
        _walk(parsed, msg)
    except RecursionError:
        parsed.defects.append("MIME nesting too deep")
    except Exception as exc:  # noqa: BLE001 - keep what was read so far
        parsed.defects.append(f"part could not be decoded: {type(exc).__name__}: {exc}")
    parsed.defects.extend(type(d).__name__ for d in getattr(msg, "defects", [])[:20])
    try:
        _recover_embedded(parsed)
    except Exception as exc:  # noqa: BLE001 - recovery is best effort
        parsed.defects.append(f"embedded structure could not be read: {type(exc).__name__}")
    if not parsed.headers.keys() and not parsed.body_text.strip():
        parsed.error = "no headers and no readable text: not an e-mail message"
    return parsed


def _headers_only(raw: bytes, why: str) -> ParsedMessage:
    head, _, body = raw.partition(b"\n\n")
    try:
        msg = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(head)
    except Exception:  # noqa: BLE001
        msg = Message()
    text = body[:MAX_BODY_CHARS].decode("utf-8", "replace")
    parsed = ParsedMessage(raw=raw, headers=msg, body_text=text, defects=[why])
    return parsed


def _walk(parsed: ParsedMessage, root: Message) -> None:
    """Depth-first over the parts, bounded in depth and count."""
    plain: list[str] = []
    html: list[Message] = []
    stack: list[tuple[Message, int]] = [(root, 0)]
    seen = 0
    while stack:
        part, depth = stack.pop()
        seen += 1
        if depth and part.defects:  # a part's ignored parameters: say so (the root's are added below)
            parsed.defects.extend(str(d) for d in part.defects if isinstance(d, ParametersIgnoredDefect))
        if seen > MAX_PARTS:
            parsed.defects.append(f"more than {MAX_PARTS} MIME parts; the rest were not read")
            break
        ctype = part.get_content_type()
        parsed.content_types.append(ctype)
        if ctype in _REPORT_TYPES:
            prose = _read_report(parsed, part, _REPORT_TYPES[ctype])
            if prose:
                plain.append(prose)
        elif ctype in _ORIGINAL_TYPES:
            if parsed.original_headers is None:
                _read_original(parsed, part)
        elif ctype.startswith("multipart/") and not part.is_multipart():
            # A multipart whose boundary is missing or wrong: its body is all we have.
            plain.append(part_text(part, MAX_BODY_CHARS))
        elif part.is_multipart():
            if depth >= MAX_DEPTH:
                parsed.defects.append(f"MIME nesting deeper than {MAX_DEPTH}; inner parts not read")
                continue
            children = part.get_payload()
            if isinstance(children, list):
                stack.extend((child, depth + 1) for child in reversed(children))
        elif ctype == "text/plain" or (ctype.startswith("text/") and ctype != "text/html"):
            if ctype == "text/plain" or part.get_filename() is None:  # plain text is read whatever its name
                plain.append(part_text(part, MAX_BODY_CHARS))
        elif ctype == "text/html":
            html.append(part)
    body = "\n".join(t for t in plain if t.strip())
    if not body:  # HTML is rendered only when there is no plain text to read
        body = "\n".join(html_to_text(part_text(part, MAX_BODY_CHARS)) for part in html)
    parsed.body_text = body[:MAX_BODY_CHARS]


def _recover_embedded(parsed: ParsedMessage) -> None:
    """DSN fields, originals and bounces that arrived as text instead of MIME parts."""
    if not parsed.delivery_status:
        parsed.delivery_status = dsn_blocks_in_text(parsed.body_text) or reports_in_original(parsed.original_headers)
    if parsed.original_headers is None:
        headers, text = inline_original(parsed.body_text)
        if headers is not None:
            parsed.original_headers, parsed.original_body = headers, text


def _read_report(parsed: ParsedMessage, part: Message, kind: str) -> str:
    """Read a report part's fields; its text when it holds prose instead of fields.

    Some MTAs label the human-readable explanation ``message/delivery-status``
    ("<u@ci.com> has restricted SMS e-mail"): with no DSN field in it, it is
    read as body text, where the detectors look for the reason.
    """
    text = _payload_as_text(part)
    blocks = parse_field_blocks(text)
    if kind == "delivery-status":
        if not any(_DSN_FIELDS.intersection(block) for block in blocks):
            return text
        if not parsed.delivery_status:
            parsed.delivery_status = blocks
    elif blocks:
        merged: FieldBlock = {}
        for block in blocks:
            for key, value in block.items():
                merged.setdefault(key, value)
        if kind == "feedback-report":
            parsed.feedback_report = parsed.feedback_report or merged
        else:
            parsed.disposition_notification = parsed.disposition_notification or merged
    return ""


def _payload_as_text(part: Message) -> str:
    """A report part's body as text, whatever the parser made of it."""
    payload = part.get_payload()
    if isinstance(payload, list):
        # compat32 parses message/* bodies into sub-messages: rebuild the blocks, with any
        # lines that were not fields (the parser keeps those as a block's "body").
        return _jis_decoded("\n\n".join(_block_text(sub) for sub in payload if isinstance(sub, Message)))
    return _jis_decoded(part_text(part, MAX_BODY_CHARS))


def _block_text(block: Message) -> str:
    fields = "\n".join(f"{k}: {v}" for k, v in block.items())
    rest = block.get_payload()
    rest = rest.strip("\r\n") if isinstance(rest, str) else ""
    return f"{fields}\n{rest}" if fields and rest else fields or rest


def _jis_decoded(text: str) -> str:
    """Report fields written in ISO-2022-JP without a charset label (Japanese MTAs do)."""
    if "\x1b$" not in text:
        return text
    try:
        return text.encode("utf-8").decode("iso-2022-jp")
    except (UnicodeError, LookupError):
        return text


def _read_original(parsed: ParsedMessage, part: Message) -> None:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        parsed.original_headers = parsed.original_body = payload[0]
        return
    text = part_text(part, MAX_BODY_CHARS)
    head, _, body = text.lstrip("\r\n").partition("\n\n")
    parsed.original_headers = parse_headers(head + "\n")
    parsed.original_body = body[:MAX_BODY_CHARS]


def _first_text(msg: Message) -> str:
    for index, part in enumerate(msg.walk()):
        if index > MAX_PARTS:
            break
        ctype = part.get_content_type()
        if ctype == "text/plain":
            return part_text(part, MAX_BODY_CHARS)
        if ctype == "text/html":
            return html_to_text(part_text(part, MAX_BODY_CHARS))
    return ""
