"""A MIME splitter that builds the standard library's compat32 messages, faster.

Why: ``email.message_from_bytes`` feeds the whole message through a
line-by-line state machine written in Python, and that loop was a third of
the classifier's time: a returned newsletter is hundreds of body lines the
detectors never look at. This module finds the same structure with string
searches (the header block line by line, then each multipart body split at
its boundary lines with ``str.find``) and produces the same objects — the
``Message`` tree, headers, payload strings, preamble and the parser's defect
classes — so everything above it is unchanged. The corpus test checks it
against the standard parser message by message.

What it does the same way as the standard parser: lenient header lines
(a line that is neither a header nor a continuation starts the body, with
a MissingHeaderBodySeparatorDefect), a leading ``From `` envelope line,
``message/*`` bodies parsed as one sub-message (``message/delivery-status``
as its blocks), the newline before a boundary belonging to the boundary,
repeated boundary lines, missing start or close boundaries, digest parts
defaulting to ``message/rfc822``, CRLF, LF and lone-CR line ends. What it
does differently: nesting is cut at :data:`MAX_NESTING` levels, the rest
kept as text, instead of ending in a RecursionError; and a boundary line is
only looked for after a LF (never right after a lone CR).
"""

from __future__ import annotations

import re
from email import errors
from email._policybase import compat32
from email.message import Message

#: Deeper MIME nesting than this is kept as the innermost part's text.
MAX_NESTING = 60
#: A Content-Type or Content-Disposition field is read up to this many parameters and characters, the
#: rest ignored (and said in a defect): the standard library's parameter parser, behind
#: get_content_charset, get_filename and get_boundary, takes time quadratic in the field's length
#: (a million ``;a=b`` ran for minutes). Real fields have a handful of parameters and RFC 2231
#: continuations keep each line short; the raw bytes are kept whole anyway.
MAX_PARAMS = 100
MAX_PARAM_FIELD_CHARS = 8192
#: Parts (and delivery-status field blocks) made per message; what follows is kept as the last
#: part's text. Far above what anything reads (400 parts), far below what 25 MB can hold (3 million).
MAX_SPLIT_PARTS = 1000
#: Each level of nesting copies its part's text: characters copied per message, past which deeper
#: parts are kept as text. A 25 MB message nested 60 deep copied 3 GB; ordinary mail copies its
#: size a few times over (each level holds most of the bytes of the one above).
COPY_FACTOR = 8
COPY_SLACK = 4_000_000
_PARAM_FIELDS = frozenset({"content-type", "content-disposition"})


class CompatMessage(Message):
    """A compat32 ``Message`` whose header reads skip the policy for plain ASCII values: the same answers.

    Why: ``get``, ``items`` and ``get_all`` pass every value through
    ``compat32.header_fetch_parse``, which returns an ASCII ``str`` as it is
    after three calls (and a full encode looking for surrogates). The
    classifier reads about fifty values a message through them (``get_content_type``
    and ``get_param`` read with ``get``), and nearly all are ASCII. Any other
    value (non-ASCII text, surrogate escapes, a ``Header``), and any other
    policy, goes through the policy as before.

    A field whose name is not as long as the one asked for is passed over
    without lower-casing it (that was 200 ``str.lower`` calls a message): for
    an ASCII name that is exact, since no character lower-cases to ASCII
    of another length (the one character whose lower case is longer, U+0130,
    gives a non-ASCII pair). A non-ASCII name is looked up as the standard
    ``Message`` does.
    """

    def get(self, name, failobj=None):  # type: ignore[no-untyped-def]
        if self.policy is not compat32 or not name.isascii():
            return super().get(name, failobj)
        name = name.lower()
        size = len(name)
        for key, value in self._headers:  # type: ignore[attr-defined]
            if len(key) == size and key.lower() == name:  # see the class docstring
                return value if value.__class__ is str and value.isascii() else compat32.header_fetch_parse(key, value)
        return failobj

    def items(self):  # type: ignore[no-untyped-def]
        if self.policy is not compat32:
            return super().items()
        fetch = compat32.header_fetch_parse
        return [(key, value if value.__class__ is str and value.isascii() else fetch(key, value))
                for key, value in self._headers]  # type: ignore[attr-defined]

    def get_all(self, name, failobj=None):  # type: ignore[no-untyped-def]
        if self.policy is not compat32 or not name.isascii():
            return super().get_all(name, failobj)
        name = name.lower()
        size = len(name)
        fetch = compat32.header_fetch_parse
        found = [value if value.__class__ is str and value.isascii() else fetch(key, value)
                 for key, value in self._headers  # type: ignore[attr-defined]
                 if len(key) == size and key.lower() == name]
        return found or failobj


class ParametersIgnoredDefect(errors.HeaderDefect):
    """A Content-Type or Content-Disposition had more parameters (or characters) than are read."""


class TooManyPartsDefect(errors.MessageDefect):
    """More than MAX_SPLIT_PARTS parts: the rest was kept as text."""

_BLANK = ("\n", "\r\n", "\r")
#: The header block as the standard parser reads it: lines that start with an envelope 'From ',
#: a continuation blank, or a field name and a colon, each to its CRLF, LF or lone CR. Python's
#: re because the text holds surrogate escapes RE2 cannot take; linear all the same: a name
#: cannot contain the colon that ends it, so no line can be split two ways. For that reason the
#: quantifiers are possessive (``*+``: no backtracking state kept per line and per name, a
#: quarter of the match's time): giving characters back could never let a match go further.
_HEADER_BLOCK = re.compile(r"(?:(?:From |[ \t]|[\x21-\x39\x3b-\x7e]*+:)[^\r\n]*+(?:\r\n|\n|\r)?)*+")


def parse_bytes(raw: bytes) -> Message:
    """``email.message_from_bytes(raw, policy=compat32)``, by string search (as :class:`CompatMessage`)."""
    text = raw.decode("ascii", "surrogateescape")
    root = _parse(text, 0, digest_child=False, budget=[MAX_SPLIT_PARTS, COPY_FACTOR * len(text) + COPY_SLACK])
    if root.get_content_maintype() == "multipart" and not root.is_multipart():
        root.defects.append(errors.MultipartInvariantViolationDefect())
    return root


def parse_headers(text: str) -> Message:
    """``email.parser.HeaderParser(policy=compat32).parsestr(text)``: the header block, the rest as the payload.

    For a header block found in text (an original quoted after a marker line,
    a text/rfc822-headers part): the standard header parser runs the same
    line-by-line state machine as the full one.
    """
    msg = CompatMessage(policy=compat32)
    msg._payload = text[_read_headers(msg, text):]  # type: ignore[attr-defined]
    return msg


def _parse(text: str, depth: int, digest_child: bool, boundary_follows: bool = False, *, budget: list[int]) -> Message:
    """One message or part; ``boundary_follows``: a boundary line came right after ``text``.

    The line break before a boundary belongs to the boundary (RFC 2046), so
    it is taken off the last thing the part contains: its text, the last
    field block of a delivery-status, or a multipart's epilogue.
    ``budget``: [parts, characters] this message may still make and copy (shared by the whole tree).
    """
    budget[0] -= 1
    budget[1] -= len(text)
    msg = CompatMessage(policy=compat32)
    if digest_child:
        msg.set_default_type("message/rfc822")
    body = text[_read_headers(msg, text):]
    if depth >= MAX_NESTING or budget[1] < 0:
        why = f"deeper than {MAX_NESTING} levels" if depth >= MAX_NESTING else "nested over too many bytes"
        msg.defects.append(errors.MessageDefect(f"MIME nesting {why}; kept as text"))
        msg._payload = body  # type: ignore[attr-defined]
        return msg
    ctype = msg.get_content_type()
    if ctype == "message/delivery-status":
        blocks = _blocks(body, max(1, budget[0]))
        msg._payload = [  # type: ignore[attr-defined]
            _parse(block, depth + 1, False, boundary_follows and n == len(blocks) - 1, budget=budget)
            for n, block in enumerate(blocks)
        ]
    elif ctype.startswith("message/"):
        msg._payload = [_parse(body, depth + 1, False, boundary_follows, budget=budget)]  # type: ignore[attr-defined]
    elif ctype.startswith("multipart/"):
        _split_multipart(msg, body, depth, ctype == "multipart/digest", budget)
        if boundary_follows:
            msg.epilogue = _strip_eol(msg.epilogue) or None
    else:
        msg._payload = _strip_eol(body) if boundary_follows else body  # type: ignore[attr-defined]
    return msg


def _lines(text: str, pos: int):
    """(line with its end of line, position after it) from ``pos`` on."""
    size = len(text)
    while pos < size:
        end = _line_end(text, pos)
        yield text[pos:end], end
        pos = end


def _line_end(text: str, pos: int) -> int:
    """Where the line starting at ``pos`` ends: after CRLF, LF or a lone CR, as the standard parser reads."""
    end = text.find("\n", pos)
    end = len(text) if end < 0 else end + 1
    cr = text.find("\r", pos, end)
    if cr >= 0 and cr + 1 < end and text[cr + 1] != "\n":
        return cr + 1
    return end


def _read_headers(msg: Message, text: str) -> int:
    """Set ``msg``'s headers from the top of ``text``; where the body starts."""
    end = _HEADER_BLOCK.match(text).end()  # type: ignore[union-attr]
    block = text[:end]
    if "\r" in block and block.count("\r") != block.count("\r\n"):
        lines = [line for line, _ in _lines(block, 0)]  # lone CRs end lines too
    else:
        lines = block.split("\n")
        last = lines.pop()
        lines = [line + "\n" for line in lines]
        if last:
            lines.append(last)
    body_start = end
    if end < len(text):
        after = _line_end(text, end)
        if text[end:after] in _BLANK:
            body_start = after
        else:
            msg.defects.append(errors.MissingHeaderBodySeparatorDefect())
    pushed_back = _set_headers(msg, lines)
    if pushed_back is not None:
        body_start = end - len(pushed_back)  # a 'From ' line closing the headers is the body's first line
    return body_start


def _set_headers(msg: Message, lines: list[str]) -> str | None:
    """The standard parser's header rules; a trailing 'From ' line it gives back to the body.

    A field is stored as ``compat32.header_source_parse`` stores it (name up to
    the first colon; value without leading blanks, continuation lines kept,
    the last line break dropped), written out here because it runs ~30 times
    a message.
    """
    headers = msg._headers  # type: ignore[attr-defined]
    first = ""  # the current field's first line
    more: list[str] = []  # its continuation lines
    last = len(lines) - 1
    for number, line in enumerate(lines):
        if line[0] in " \t":
            if not first:
                msg.defects.append(errors.FirstHeaderLineIsContinuationDefect(line))
                continue
            more.append(line)
            continue
        if first:
            headers.append(_field(first, more, msg))
            first, more = "", []
        if line.startswith("From "):
            if number == 0:
                msg.set_unixfrom(line.rstrip("\r\n"))
                continue
            if number == last:
                return line
            msg.defects.append(errors.MisplacedEnvelopeHeaderDefect(line))
            continue
        if line[0] == ":":
            msg.defects.append(errors.InvalidHeaderDefect("Missing header name."))
            continue
        first = line
    if first:
        headers.append(_field(first, more, msg))
    return None


def _field(first: str, more: list[str], msg: Message) -> tuple[str, str]:
    name, _, value = first.partition(":")
    value = value.lstrip(" \t")
    if more:
        value += "".join(more)
    value = value.rstrip("\r\n")
    if (len(value) > MAX_PARAM_FIELD_CHARS or value.count(";", 0, MAX_PARAM_FIELD_CHARS) > MAX_PARAMS) \
            and name.strip().lower() in _PARAM_FIELDS:
        value = _first_params(value)
        msg.defects.append(ParametersIgnoredDefect(
            f"{name.strip()}: parameters beyond the first {MAX_PARAMS} (or {MAX_PARAM_FIELD_CHARS} characters) ignored"))
    return name, value


def _first_params(value: str) -> str:
    """``value`` up to its MAX_PARAMS-th parameter and MAX_PARAM_FIELD_CHARS characters, cut between parameters."""
    head = value[:MAX_PARAM_FIELD_CHARS]
    semicolons = [at for at, char in enumerate(head) if char == ";"]
    if len(semicolons) > MAX_PARAMS:
        return head[: semicolons[MAX_PARAMS]]
    return head[: semicolons[-1]] if semicolons else head


def _blocks(body: str, limit: int) -> list[str]:
    """A delivery-status body's field blocks (blank-line separated); the ``limit``-th holds the rest."""
    blocks: list[str] = []
    current: list[str] = []
    for line, after in _lines(body, 0):
        if len(blocks) == limit - 1:
            current.append(body[after - len(line):])
            break
        if line in _BLANK:
            blocks.append("".join(current))
            current = []
        else:
            current.append(line)
    if current or not blocks:
        blocks.append("".join(current))
    return blocks


def boundary_of(msg: Message) -> str | None:
    """``msg.get_boundary()``, read directly from a plain Content-Type field.

    The standard parameter reader (RFC 2231 continuations and charsets,
    quoting) was a sixth of the split. Most fields are a type and a few
    ``name=value`` parameters, the boundary bare or in one pair of quotes:
    those are split here the way the standard reader splits them. A field
    with anything that reader treats specially (a backslash, ``*``, angle
    brackets, more quotes, a ``;`` inside the quotes, ``=`` in the type) goes
    to it.
    """
    value = msg.get("content-type")
    if not isinstance(value, str) or any(c in value for c in _SPECIAL_IN_PARAMS) or value.count('"') not in (0, 2):
        return msg.get_boundary()
    if '"' in value and ";" in value[value.index('"'):value.rindex('"')]:
        return msg.get_boundary()
    params = value.split(";")
    if "=" in params[0]:  # the type: read as a parameter, but not unquoted the same way
        return msg.get_boundary()
    for param in params:
        name, _, found = param.partition("=")
        if name.strip().lower() == "boundary":
            found = found.strip()
            if len(found) > 1 and found[0] == '"' and found[-1] == '"':
                found = found[1:-1]
            return found.rstrip()
    return None


#: Characters after which the standard parameter reader does more than split and unquote.
_SPECIAL_IN_PARAMS = ("\\", "*", "<", ">")


def _boundary_lines(body: str, separator: str):
    """(line start, position after the line, is the close delimiter) of each boundary line."""
    pos = 0 if body.startswith(separator) else _line_after(body.find("\n" + separator))
    while pos >= 0:
        after = _line_end(body, pos)
        tail = body[pos + len(separator): after].rstrip("\r\n")
        close = tail.startswith("--")
        if not (tail[2:] if close else tail).strip(" \t"):
            yield pos, after, close
        if after >= len(body):
            return
        pos = _line_after(body.find("\n" + separator, after - 1))


def _line_after(newline: int) -> int:
    return newline + 1 if newline >= 0 else -1


def _strip_eol(text: str | None) -> str:
    if text is None:
        return ""
    if text.endswith("\r\n"):
        return text[:-2]
    if text.endswith("\n") or text.endswith("\r"):
        return text[:-1]
    return text


def _split_multipart(msg: Message, body: str, depth: int, digest: bool, budget: list[int]) -> None:
    boundary = boundary_of(msg)
    if boundary is None:
        msg.defects.append(errors.NoBoundaryInMultipartDefect())
        msg._payload = body  # type: ignore[attr-defined]
        return
    if str(msg.get("content-transfer-encoding", "8bit")).lower() not in ("7bit", "8bit", "binary"):
        msg.defects.append(errors.InvalidMultipartContentTransferEncodingDefect())
    parts: list[Message] = []
    part_start: int | None = None
    closed = False
    for start, after, close in _boundary_lines(body, "--" + boundary):
        if part_start is None and close:
            body = body[:start]  # a close delimiter before any part: no start boundary
            break
        if part_start is None:
            if start:
                msg.preamble = _strip_eol(body[:start])
        elif start == part_start:
            part_start = after  # boundary lines in a row are one boundary, even a close delimiter
            continue
        elif budget[0] <= 0:
            msg.defects.append(TooManyPartsDefect(f"more than {MAX_SPLIT_PARTS} MIME parts; the rest kept as text"))
            last = CompatMessage(policy=compat32)
            last._payload = body[part_start:]  # type: ignore[attr-defined]
            parts.append(last)
            msg._payload = parts  # type: ignore[attr-defined]
            return
        else:
            parts.append(_parse(body[part_start:start], depth + 1, digest, boundary_follows=True, budget=budget))
        part_start = after
        if close:
            closed = True
            msg.epilogue = _epilogue(body[after:], body[start:after])
            break
    if part_start is None:
        msg.defects.append(errors.StartBoundaryNotFoundDefect())
        msg._payload = body  # type: ignore[attr-defined]
        msg.epilogue = ""
        return
    if not closed:
        msg.defects.append(errors.CloseBoundaryNotFoundDefect())
        parts.append(_parse(body[part_start:], depth + 1, digest, boundary_follows=True, budget=budget))
    msg._payload = parts  # type: ignore[attr-defined]


def _epilogue(rest: str, close_line: str) -> str:
    """What follows the close delimiter, without the line break that starts it."""
    if not close_line.endswith(("\n", "\r")):
        return ""
    if rest.startswith("\r\n"):
        return rest[2:]
    if rest.startswith(("\n", "\r")):
        return rest[1:]
    return rest
