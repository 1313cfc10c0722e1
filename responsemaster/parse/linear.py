"""Linear-time regular expressions for everything that reads message text.

Returned mail is hostile input: a diagnostic line of 50,000 dashes or a
header built to make a backtracking engine explode must not stall a worker.
RE2 matches in time linear in the input whatever the pattern, so every
pattern that runs over message content is compiled here. Python's ``re``
flags are translated to RE2's inline flags; RE2 has no look-around and no
back-references, which the few patterns that need them avoid by design.
"""

from __future__ import annotations

import re

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False
_OPTIONS.max_mem = 16 << 20

_FLAGS = ((re.I, "i"), (re.M, "m"), (re.S, "s"))


def compile(pattern: str | bytes, flags: int = 0):  # noqa: A001 - mirrors re.compile on purpose
    """``re.compile`` with RE2 semantics (I, M and S flags; X is not supported)."""
    if flags & re.X:
        raise ValueError("verbose patterns are not supported by RE2; write the pattern on one line")
    inline = "".join(letter for flag, letter in _FLAGS if flags & flag)
    if inline:
        prefix = f"(?{inline})"
        pattern = prefix.encode() + pattern if isinstance(pattern, bytes) else prefix + pattern
    return re2.compile(pattern, _OPTIONS)
