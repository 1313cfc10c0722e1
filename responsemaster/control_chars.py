"""Control characters: what no address, reason, request target or log value may carry.

One definition for the whole product: C0 and C1 controls and DEL (a NUL
makes a row match nothing and PostgreSQL refuse it; a line feed forges a log
line), plus the invisible characters that change how text displays (bidi
overrides and isolates, line and paragraph separators), which make a value
read differently from what it is. The API refuses them in addresses,
reasons and targets (400); the log filter escapes them.
"""

from __future__ import annotations

import unicodedata

_INVISIBLE = frozenset("\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def is_control(ch: str) -> bool:
    """True for a control or display-changing character (one character)."""
    return unicodedata.category(ch) == "Cc" or ch in _INVISIBLE


def has_control(text: str, allow: str = "") -> bool:
    """True when ``text`` holds a control character other than those in ``allow`` (e.g. ``"\\t\\r\\n"`` for notes)."""
    return any(is_control(ch) and ch not in allow for ch in text)


def escape_controls(text: str) -> str:
    """Control characters as ``\\xNN``/``\\uNNNN`` (printable text unchanged)."""
    if not has_control(text):
        return text
    return "".join((f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}") if is_control(ch) else ch
                   for ch in text)
