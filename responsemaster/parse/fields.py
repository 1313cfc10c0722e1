"""Header-like field blocks, as found in DSN, ARF and MDN bodies.

``message/delivery-status`` and friends are blocks of ``Name: value`` lines
separated by blank lines (RFC 3464 section 2). Real bounces break that format
in every way (no blank lines, folded values, stray text), so this parser is
lenient: it never raises, it keeps the first value of a repeated field, and it
skips lines that are not fields.
"""

from __future__ import annotations

import re

_FIELD = re.compile(r"^([A-Za-z][A-Za-z0-9-]{0,60})[ \t]*:[ \t]*(.*)$")

FieldBlock = dict[str, str]


def parse_field_blocks(text: str, limit: int = 2000) -> list[FieldBlock]:
    """Split ``text`` into blocks of lower-cased ``name -> value`` fields."""
    blocks: list[FieldBlock] = []
    current: FieldBlock = {}
    last: str | None = None
    for count, line in enumerate(text.splitlines()):
        if count >= limit:
            break
        if not line.strip():
            if current:
                blocks.append(current)
            current, last = {}, None
            continue
        if line[:1] in (" ", "\t") and last is not None:
            current[last] = (current[last] + " " + line.strip()).strip()
            continue
        match = _FIELD.match(line)
        if not match:
            last = None
            continue
        name = match.group(1).lower()
        value = match.group(2).strip()
        if name in current:
            # A new Final-Recipient without a blank line starts a new block.
            if name in ("final-recipient", "original-recipient") and "final-recipient" in current:
                blocks.append(current)
                current = {}
            else:
                last = None
                continue
        current[name] = value
        last = name
    if current:
        blocks.append(current)
    return blocks


#: An address field is read this far: the pattern below is quadratic in a value with no '@'
#: (a megabyte-long Final-Recipient took 1.4 s), and no address is longer than 320 characters.
MAX_ADDRESS_FIELD_CHARS = 1_000


def address_of(value: str) -> str:
    """The address in a DSN address field: ``rfc822; <User@Example.org>``."""
    if ";" in value:
        kind, _, value = value.partition(";")
        if kind.strip().lower() not in ("rfc822", "utf-8", "x-unknown", "unknown", ""):
            # Non-mail address types (x400, ...) still often carry an address.
            pass
    value = value.strip()[:MAX_ADDRESS_FIELD_CHARS].strip("<>\"' ").strip()
    match = re.search(r"[^\s<>\"'();,:]+@[^\s<>\"'();,]+", value)
    return match.group(0).rstrip(".") if match else ""


def mta_of(value: str) -> str:
    """The host in a ``dns; mx.example.org`` style field."""
    if ";" in value:
        value = value.partition(";")[2]
    return value.strip().strip("[]<>").split()[0] if value.strip() else ""
