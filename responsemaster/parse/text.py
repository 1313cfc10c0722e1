"""Decoding text out of MIME parts and headers, whatever their charset claims.

Returned mail is full of lies about encodings: ``charset=unknown-8bit``,
Shift_JIS labelled as ISO-8859-1, base64 with garbage at the end. Every
function here degrades to replacement characters instead of raising.
"""

from __future__ import annotations

import codecs
import html
import re
from email.header import decode_header
from email.message import Message
from email.utils import parseaddr

from responsemaster.parse import linear

_CHARSET_ALIASES = {
    "unknown-8bit": "utf-8",
    "x-unknown": "utf-8",
    "default": "utf-8",
    "us-ascii": "utf-8",  # 8-bit bytes under a us-ascii label are nearly always UTF-8
    "ascii": "utf-8",
    "ks_c_5601-1987": "cp949",
    "x-sjis": "shift_jis",
    "shift-jis": "shift_jis",
    "iso-8859-8-i": "iso-8859-8",
    "windows-874": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
}


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode ``data`` with ``charset``, falling back to UTF-8, then Latin-1."""
    name = (charset or "utf-8").strip().strip("\"'").lower()
    name = _CHARSET_ALIASES.get(name, name)
    try:
        codecs.lookup(name)
    except LookupError:
        name = "utf-8"
    try:
        return data.decode(name)
    except UnicodeDecodeError:
        pass
    except Exception:  # noqa: BLE001 - some codecs raise odd errors on bad input
        pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode(name if name != "utf-8" else "latin-1", "replace")


def part_text(part: Message, limit: int) -> str:
    """The decoded text of a leaf part, at most ``limit`` characters."""
    try:
        data = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - broken transfer encodings
        data = None
    if data is None:
        payload = part.get_payload()
        if isinstance(payload, str):
            data = payload.encode("utf-8", "surrogateescape")
        else:
            return ""
    if not isinstance(data, bytes):
        return ""
    data = data[: limit * 4]
    try:
        charset = part.get_content_charset()
    except Exception:  # noqa: BLE001
        charset = None
    return decode_bytes(data, charset).replace("\x00", "")[:limit]


#: Header values are cut to this many characters before decoding: RFC 5322
#: allows 998 per line, and the standard library's ``decode_header`` and
#: ``parseaddr`` are superlinear (a 5 MB Subject of encoded-words took minutes).
MAX_HEADER_CHARS = 16_384


def decode_header_value(value: object) -> str:
    """A header value with RFC 2047 encoded-words and raw 8-bit bytes decoded."""
    text = str(value)[:MAX_HEADER_CHARS]
    if not text.isascii() and any("\udc80" <= c <= "\udcff" for c in text):
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if "=?" not in text:
        return _unfold(text)
    try:
        chunks = []
        for data, charset in decode_header(text):
            if isinstance(data, bytes):
                chunks.append(decode_bytes(data, charset))
            else:
                chunks.append(data)
        # decode_header drops the spaces between plain and encoded chunks inconsistently.
        return _unfold("".join(chunks) if len(chunks) > 1 else chunks[0])
    except Exception:  # noqa: BLE001
        return _unfold(text)


#: A folded header's line break with the next line's indentation.
_FOLD = re.compile(r"\r?\n[ \t]*")


def _unfold(text: str) -> str:
    """One line: folds replaced by a space, NULs dropped; most values hold no line break to look for."""
    if "\n" in text:
        text = _FOLD.sub(" ", text)
    return text.replace("\x00", "").strip()


#: Hostile HTML may open thousands of <script> blocks and close none: RE2 keeps that linear.
_DROP_BLOCKS = tuple(
    linear.compile(rf"<{tag}\b[^>]*>.*?</{tag}\s*>", re.I | re.S) for tag in ("script", "style", "head", "title")
)
_BREAKS = linear.compile(r"<\s*(br|/p|/div|/tr|/li|/h[1-6]|p|div|tr|li|blockquote)\b[^>]*>", re.I)
_TAGS = linear.compile(r"<[^>]*>")
_SPACES = re.compile(r"[ \t\xa0]+")


def html_to_text(markup: str) -> str:
    """A readable plain-text rendering of HTML; never executes or fetches anything."""
    text = markup
    for block in _DROP_BLOCKS:
        text = block.sub(" ", text)
    text = _BREAKS.sub("\n", text)
    text = _TAGS.sub("", text)
    text = html.unescape(text)
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


#: "Name <local@domain>", '"Name" <local@domain>' or a bare "local@domain" with nothing unusual
#: in it: read without the standard library's full RFC 5322 address parser (a tenth of a
#: millisecond per call).
_ADDRESS = r"[^<>\"(),:;@\\\s]+@[^<>\"(),:;@\\\s]+"
_PLAIN_ADDRESS = re.compile(
    rf"[^<>\"(),:;@\\]*<({_ADDRESS})>\s*|\s*({_ADDRESS})\s*|\s*\"[^\"\\<>\r\n]*\"\s*<({_ADDRESS})>\s*"
)


def header_address(value: str) -> str:
    """The address in a From/To-style header value, as ``email.utils.parseaddr`` reads it."""
    match = _PLAIN_ADDRESS.fullmatch(value[:MAX_HEADER_CHARS])
    if match:
        return match.group(1) or match.group(2) or match.group(3)
    return parseaddr(value[:MAX_HEADER_CHARS])[1]
