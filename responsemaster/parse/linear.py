"""Linear-time regular expressions for everything that reads message text.

Returned mail is hostile input: a diagnostic line of 50,000 dashes or a
header built to make a backtracking engine explode must not stall a worker.
RE2 matches in time linear in the input whatever the pattern, so every
pattern that runs over message content is compiled here. Python's ``re``
flags are translated to RE2's inline flags; RE2 has no look-around and no
back-references, which the few patterns that need them avoid by design.

The ``google-re2`` wrapper converts every ``str`` to UTF-8 and maps byte
offsets back to character offsets on each call, which costs more than the
match itself on short fields. Most mail text is ASCII, where byte and
character offsets are the same, so :class:`Pattern` skips that mapping for
ASCII text and re-uses the encoding of the last text it saw (the rules and
detectors run dozens of patterns over one field in a row).
"""

from __future__ import annotations

import re

import re2
from re2 import _Match, _re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False
_OPTIONS.max_mem = 16 << 20

_FLAGS = ((re.I, "i"), (re.M, "m"), (re.S, "s"))
_UNANCHORED = _re2.RE2.Anchor.UNANCHORED
_ANCHOR_START = _re2.RE2.Anchor.ANCHOR_START
_ANCHOR_BOTH = _re2.RE2.Anchor.ANCHOR_BOTH
_NO_MATCH = (-1, -1)

#: The last ASCII text encoded, with its bytes (one tuple, so reading it is atomic).
_last: tuple[str, bytes] = ("", b"")


def _ascii_bytes(text: str) -> bytes | None:
    """``text`` as bytes when it is ASCII (offsets then agree), else None."""
    global _last
    last = _last
    if last[0] is text:
        return last[1]
    if not text.isascii():
        return None
    data = text.encode("ascii")
    _last = (text, data)
    return data


class Pattern(re2._Regexp):
    """An RE2 pattern whose search/match on ASCII text avoids the offset mapping."""

    __slots__ = ()

    def _first(self, anchor: int, text, pos, endpos):
        data = _ascii_bytes(text) if isinstance(text, str) else text
        if data is None:
            return next(super()._match(anchor, text, pos, endpos), None)
        size = len(data)
        pos = 0 if pos is None else max(0, min(pos, size))
        endpos = size if endpos is None else max(0, min(endpos, size))
        if pos > endpos:
            return None
        spans = self._regexp.Match(anchor, data, pos, endpos)
        if spans[0] == _NO_MATCH:
            return None
        return _Match(self, text, pos, endpos, spans)

    def search(self, text, pos=None, endpos=None):
        return self._first(_UNANCHORED, text, pos, endpos)

    def match(self, text, pos=None, endpos=None):
        return self._first(_ANCHOR_START, text, pos, endpos)

    def fullmatch(self, text, pos=None, endpos=None):
        return self._first(_ANCHOR_BOTH, text, pos, endpos)

    def test(self, text) -> bool:
        """Whether the pattern occurs in ``text`` (no match object built)."""
        data = _ascii_bytes(text) if isinstance(text, str) else text
        if data is None:
            data = text.encode("utf-8", "surrogatepass")
        return self._regexp.Match(_UNANCHORED, data, 0, len(data))[0] != _NO_MATCH

    def _match(self, anchor, text, pos=None, endpos=None):
        data = _ascii_bytes(text) if isinstance(text, str) else None
        if data is None:
            yield from super()._match(anchor, text, pos, endpos)
            return
        size = len(data)
        pos = 0 if pos is None else max(0, min(pos, size))
        endpos = size if endpos is None else max(0, min(endpos, size))
        for spans in self._spans(anchor, data, pos, endpos):
            yield _Match(self, text, pos, endpos, spans)

    def _spans(self, anchor, data, pos, endpos):
        """The groups' spans of each successive match (the wrapper's iteration, without match objects)."""
        while pos <= endpos:
            spans = self._regexp.Match(anchor, data, pos, endpos)
            if spans[0] == _NO_MATCH:
                return
            yield spans
            if pos == endpos:
                return
            pos = pos + 1 if pos == spans[0][1] else spans[0][1]

    def subn(self, repl, text, count=0):
        """As the wrapper's, without a match object and a template expansion per match when
        ``repl`` is plain text (no backslash) and ``text`` is ASCII (the HTML rendering's case)."""
        data = _ascii_bytes(text) if isinstance(text, str) and isinstance(repl, str) and "\\" not in repl else None
        if data is None or count < 0:
            return super().subn(repl, text, count)
        pieces: list[str] = []
        end = done = 0
        for spans in self._spans(_UNANCHORED, data, 0, len(data)):
            start, stop = spans[0]
            pieces.append(text[end:start])
            pieces.append(repl)
            end = stop
            done += 1
            if done == count:
                break
        pieces.append(text[end:])
        return "".join(pieces), done


_MULTILINE: dict[int, tuple[Pattern, Pattern]] = {}


def multiline(pattern: Pattern) -> Pattern:
    """``pattern`` with ``^``/``$`` at every line: one scan of joined lines instead of a search per line.

    A line-by-line search that finds nothing can then be skipped after one
    pass over the text. (The twin may match across a line break where no
    single line matches: callers use it as a filter, then search the lines.)
    """
    entry = _MULTILINE.get(id(pattern))
    if entry is None or entry[0] is not pattern:
        source = pattern.pattern
        twin = Pattern((b"(?m)" if isinstance(source, bytes) else "(?m)") + source, pattern.options)
        entry = _MULTILINE[id(pattern)] = (pattern, twin)
    return entry[1]


def compile(pattern: str | bytes, flags: int = 0, options: re2.Options | None = None) -> Pattern:  # noqa: A001
    """``re.compile`` with RE2 semantics (I, M and S flags; X is not supported)."""
    if flags & re.X:
        raise ValueError("verbose patterns are not supported by RE2; write the pattern on one line")
    inline = "".join(letter for flag, letter in _FLAGS if flags & flag)
    if inline:
        prefix = f"(?{inline})"
        pattern = prefix.encode() + pattern if isinstance(pattern, bytes) else prefix + pattern
    return Pattern(pattern, options or _OPTIONS)
