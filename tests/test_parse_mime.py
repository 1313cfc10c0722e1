"""The string-search MIME splitter builds the tree the standard parser builds.

responsemaster.parse.mime replaces ``email.message_from_bytes`` for speed; it
is only right if everything above it sees the same structure. These tests
compare the two on every corpus message and on mutated copies (lines dropped,
duplicated, cut, blank lines and lone CRs inserted, continuation spaces added),
and pin the few places where it deliberately differs.
"""

from __future__ import annotations

import email
import email.parser
import email.policy
from collections.abc import Callable
from email.message import Message
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from responsemaster.parse.mime import MAX_NESTING, CompatMessage, boundary_of, parse_bytes, parse_headers


def shape(msg: Message, depth: int = 0) -> list[tuple]:
    """Headers, envelope, type, defects and payload text of every part, depth first."""
    payload = msg._payload  # type: ignore[attr-defined]
    out: list[tuple] = [(
        depth,
        tuple(msg.items()),
        msg.get_unixfrom(),
        msg.get_content_type(),
        sorted(type(d).__name__ for d in msg.defects),
    )]
    if isinstance(payload, list):
        for child in payload:
            out.extend(shape(child, depth + 1))
    else:
        out.append(("payload", payload))
    return out


def standard(raw: bytes) -> Message:
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def test_same_tree_as_the_standard_parser_on_every_corpus_message(corpus_files: list[Path]) -> None:
    differ = [p.name for p in corpus_files if shape(parse_bytes(p.read_bytes())) != shape(standard(p.read_bytes()))]
    assert differ == []


_EDITS = st.lists(
    st.tuples(st.sampled_from(["drop", "repeat", "cut", "blank", "cr", "indent", "end"]), st.integers(0, 10_000)),
    min_size=1,
    max_size=4,
)


def _mutate(raw: bytes, edits: list[tuple[str, int]]) -> bytes:
    lines = raw.split(b"\n")
    for op, n in edits:
        if not lines:
            break
        i = n % len(lines)
        if op == "drop":
            del lines[i]
        elif op == "repeat":
            lines.insert(i, lines[(n // 7) % len(lines)])
        elif op == "cut":
            lines[i] = lines[i][: n % (len(lines[i]) + 1)]
        elif op == "blank":
            lines.insert(i, b"")
        elif op == "cr":
            lines[i] += b"\r\r"
        elif op == "indent":
            lines[i] = b" " + lines[i]
        else:
            lines = lines[: i + 1]
    return b"\n".join(lines)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(index=st.integers(0, 10_000), edits=_EDITS)
def test_same_tree_on_mutated_messages(sample_messages: list[bytes], index: int, edits: list[tuple[str, int]]) -> None:
    raw = _mutate(sample_messages[index % len(sample_messages)], edits)
    assert shape(parse_bytes(raw)) == shape(standard(raw))


def standard_headers(text: str) -> Message:
    return email.parser.HeaderParser(policy=email.policy.compat32).parsestr(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(index=st.integers(0, 10_000), edits=_EDITS)
def test_a_header_block_in_text_reads_as_the_standard_header_parser_reads_it(
    sample_messages: list[bytes], index: int, edits: list[tuple[str, int]]
) -> None:
    """What a bounce quotes after "Original message follows" (or in text/rfc822-headers) is read by
    parse_headers, which must give the header parser's result, whatever the lines."""
    text = _mutate(sample_messages[index % len(sample_messages)], edits).decode("utf-8", "replace")
    assert shape(parse_headers(text)) == shape(standard_headers(text))


_HEADER_LINE_PIECES = st.sampled_from([
    "From ", "From", "Subject", ":", " ", "\t", "x", "X-A", "a b", "\r\n", "\n", "\r", "\udcff", "\u00e9", "\x7f", "-",
    "::", "\x00",
])


@settings(max_examples=3000, deadline=None)
@given(pieces=st.lists(_HEADER_LINE_PIECES, max_size=30))
def test_the_possessive_header_block_pattern_ends_where_the_backtracking_one_does(pieces: list[str]) -> None:
    """``mime._HEADER_BLOCK`` never gives characters back; the same pattern with ordinary quantifiers,
    which may, must end every match at the same place (else the header block would change)."""
    import re

    from responsemaster.parse import mime

    backtracking = re.compile(mime._HEADER_BLOCK.pattern.replace("*+", "*"))
    text = "".join(pieces)
    assert mime._HEADER_BLOCK.match(text).end() == backtracking.match(text).end()  # type: ignore[union-attr]


_VALUE_PIECES = st.sampled_from([
    "text/plain", "multipart/report", "; charset=", "utf-8", '"iso-8859-1"', "; name=a.txt", " ", "\n\t", "x",
    "\u00e9", "\udce9", "=?utf-8?q?caf=C3=A9?=", "",
])
#: With names whose lower case is ASCII (the Kelvin sign's is "k") or longer (U+0130's is "i" and a combining dot).
_NAMES = st.sampled_from(["Content-Type", "content-type", "CONTENT-TYPE", "Subject", "X-A", "Received",
                          "X-\u212a", "x-K", "X-\u0130", "x-i\u0307", "X-I"])


@settings(max_examples=1000, deadline=None)
@given(fields=st.lists(st.tuples(_NAMES, st.lists(_VALUE_PIECES, max_size=6), st.booleans()), max_size=8))
def test_compat_message_reads_headers_as_the_standard_message_does(fields: list[tuple[str, list[str], bool]]) -> None:
    """``CompatMessage`` skips the policy only for ASCII text: every read gives the standard answer, with
    non-ASCII text, surrogate escapes (which the policy turns into a ``Header``) and ``Header`` values too."""
    from email.header import Header

    headers = [(name, Header("".join(pieces).replace("\udce9", ""), "utf-8") if as_header else "".join(pieces))
               for name, pieces, as_header in fields]
    ours, theirs = CompatMessage(policy=email.policy.compat32), Message(policy=email.policy.compat32)
    ours._headers, theirs._headers = list(headers), list(headers)  # type: ignore[attr-defined]

    def show(value: object) -> object:  # a Header of mixed text may not print: compare its parts
        return value if value is None or isinstance(value, str) else (type(value), repr(getattr(value, "_chunks", value)))

    def reads(msg: Message) -> list[object]:
        answers: list[object] = [[(k, show(v)) for k, v in msg.items()]]
        for name in ("content-type", "Subject", "x-a", "Missing", "x-k", "X-\u212a", "x-i\u0307", "X-\u0130", "x-i"):
            answers += [show(msg.get(name, "-")), show(msg[name]), [show(v) for v in msg.get_all(name, [])]]
        for read in (msg.get_content_type, msg.get_content_charset, msg.get_filename, msg.get_params):
            try:
                answers.append(repr(read()))
            except Exception as exc:  # noqa: BLE001 - the standard reader's failures must be ours too
                answers.append(type(exc).__name__)
        return answers

    assert reads(ours) == reads(theirs)


_FIELD_PIECES = st.sampled_from([
    "multipart/mixed", "multipart/report", "; ", ";", " ", "\n\t", "boundary", "BOUNDARY", "=", '"', "b1", "a b",
    "report-type=delivery-status", "charset=utf-8", "*", "\\", "<", ">", "=_x", "boundary*0", "''",
])


@settings(max_examples=1000, deadline=None)
@given(pieces=st.lists(_FIELD_PIECES, max_size=12))
@example(pieces=["a", ";", " ", "boundary*0", "=", "b1", ";", " ", "boundary", "*", "=", "b1"])
def test_the_boundary_is_the_one_the_standard_parameter_reader_gives(pieces: list[str]) -> None:
    """The same boundary, or the same failure: the standard reader raises TypeError on an RFC 2231 parameter
    both numbered and not (``boundary*0=`` and ``boundary*=``); parse_message then keeps the headers and the
    text, with a defect (the test below), where the standard parser fails the whole message."""
    msg = Message(policy=email.policy.compat32)
    msg["Content-Type"] = "".join(pieces)

    def answer(read: Callable[[], object]) -> object:
        try:
            return read()
        except Exception as exc:  # noqa: BLE001 - the standard reader's failures must be ours too
            return type(exc)

    assert answer(lambda: boundary_of(msg)) == answer(msg.get_boundary)


def test_a_boundary_the_standard_reader_fails_on_keeps_the_headers_and_the_text() -> None:
    from responsemaster.parse.message import parse_message

    raw = (b"From: a@example.org\nSubject: hello\nContent-Type: multipart/mixed; boundary*0=b1; boundary*=b1\n\n"
           b"--b1\nContent-Type: text/plain\n\nsee you\n--b1--\n")
    with pytest.raises(TypeError):
        standard(raw)
    parsed = parse_message(raw)
    assert parsed.error is None and parsed.subject == "hello" and "see you" in parsed.body_text
    assert parsed.defects == ["MIME structure could not be parsed: TypeError"]


def test_boundary_edge_cases_match_the_standard_parser() -> None:
    head = b"Content-Type: multipart/mixed; boundary=b\n\n"
    bodies = [
        b"--b\nA: 1\n\none\n--b\n--b\n\ntwo\n--b--\nepilogue\n",  # repeated boundary line
        b"preamble\n--b\n\nonly part, no close\n",  # close delimiter missing
        b"no boundary at all\n",  # start boundary missing
        b"\n--b--\n",  # a close delimiter before any part
        b"--b \t\n\ntrailing blanks on the boundary line\n--b--  \n",
        b"--bogus\n\nnot a boundary\n--b\n\npart\n--b--",
        b"--b\r\n\r\ncrlf part\r\n--b--\r\n",
        b"--b\n\nlast boundary at the end\n--b",
        b"--b\n\none\n--b\n--b--\n\nafter a close that followed a separator\n",  # consumed as a repeat
    ]
    for body in bodies:
        assert shape(parse_bytes(head + body)) == shape(standard(head + body)), body


def test_delivery_status_blocks_match_the_standard_parser() -> None:
    head = b"Content-Type: multipart/report; boundary=b\n\n--b\nContent-Type: message/delivery-status\n\n"
    for body in (b"A: 1\n\nB: 2\n", b"A: 1\n\nB: 2\n\n", b"A: 1\n\n\nB: 2\n", b"A: 1\nnot a field\n\nB: 2\n", b""):
        raw = head + body + b"\n--b--\n"
        assert shape(parse_bytes(raw)) == shape(standard(raw)), body


def test_deep_nesting_is_cut_and_kept_as_text_instead_of_recursing() -> None:
    levels = MAX_NESTING * 20
    raw = b"".join(b"Content-Type: message/rfc822\n\n" for _ in range(levels)) + b"Subject: innermost\n\nhello\n"
    msg = parse_bytes(raw)
    depth = 0
    while isinstance(msg.get_payload(), list):
        msg = msg.get_payload()[0]
        depth += 1
    assert depth == MAX_NESTING
    assert "deeper than" in str(msg.defects[-1])
    assert msg.get_payload().endswith("hello\n")
