"""Is this input an e-mail message at all?

Random bytes, a text file, a LICENSE or a JSON file dropped into a mail
folder must not become a "human reply" forwarded to customer service. So
before anything is classified, the input must show the two things every
message that crossed a mail system has:

1. **A header block**: it starts with a header field (``name:`` with an
   RFC 5322 field name). Allowed before it: an mbox envelope line
   (``From sender date``, also ``>From``) and lines of blanks that some
   exporters leave (a line of spaces is a continuation line to a parser).
2. **A sender**, or the trace a mail system leaves instead: in that block,
   an originator field (RFC 5322 From, Sender, Reply-To, Resent-From,
   Resent-Sender), a trace field (Return-Path, ``<>`` for a bounce
   included, and Received, RFC 5321 section 4.4: every relay names who
   handed the message over), a field a delivering MTA adds (Delivered-To,
   X-Original-To, Envelope-To, X-Envelope-To, X-Apparently-To), or, for a
   report saved without its envelope (a bare DSN, MDN or ARF part), a field
   naming who reports on whom (Reporting-MTA, Reporting-UA,
   Final-Recipient, Original-Recipient, Feedback-Type); or an mbox
   envelope line.

Nothing more: mail with two headers, mail whose From is malformed, mail cut
short after its first trace or originator field, all pass (the classifier
copes with them). Measured: every corpus and training_data message passes,
and random bytes, text, licences, READMEs and JSON are all rejected
(tests/test_bad_input.py). Linear time: one pass over the header block.
"""

from __future__ import annotations

import re

#: An RFC 5322 field name (printable ASCII but the colon), optional blanks (obsolete syntax), a colon.
_FIELD = re.compile(rb"[!-9;-~]+[ \t]*:")
_ENVELOPE = re.compile(rb">?From \S")
_SENDER = re.compile(
    rb"^(?:from|sender|reply-to|resent-from|resent-sender"
    rb"|return-path|received|delivered-to|x-original-to|envelope-to|x-envelope-to|x-apparently-to"
    rb"|reporting-mta|reporting-ua|final-recipient|original-recipient|feedback-type)[ \t]*:[ \t]*\S",
    re.IGNORECASE | re.MULTILINE,
)
_END_OF_HEADERS = re.compile(rb"\n\r?\n")
#: Leading lines looked at for the envelope line and blank lines before the first field.
_LEADING_LINES = 5


def not_mail_reason(raw: bytes) -> str | None:
    """Why ``raw`` is not an e-mail message, or None when it is one."""
    start, envelope = _first_field(raw)
    if start is None:
        return "not mail: no header block (the input does not start with header fields)"
    end = _END_OF_HEADERS.search(raw, start)
    head = raw[start:end.start() + 1 if end else len(raw)]
    if not envelope and _SENDER.search(head) is None:
        return ("not mail: no sender (no From, Sender, Reply-To, Return-Path, Received or report field "
                "in the header block)")
    return None


def _first_field(raw: bytes) -> tuple[int | None, bool]:
    """Offset of the first header field, and whether an envelope line came before it."""
    pos, envelope = 0, False
    for _ in range(_LEADING_LINES):
        newline = raw.find(b"\n", pos)
        line = raw[pos:newline if newline >= 0 else len(raw)].rstrip(b"\r")
        if _FIELD.match(line):
            return pos, envelope
        if not line:
            return None, envelope  # an empty line (or nothing): the body starts before any header
        if _ENVELOPE.match(line) and not envelope:
            envelope = True
        elif line.strip(b" \t"):
            return None, envelope  # text that is not a header field
        if newline < 0:
            return None, envelope
        pos = newline + 1
    return None, envelope
