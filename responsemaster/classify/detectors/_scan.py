"""Shared machinery for the plain-text bounce formats (a helper, not a detector).

Most non-standard bounces are the same shape: an introduction, a list of
failed addresses each followed by some lines of error text, then the returned
original. A format module says how *its* introduction, address lines and
end-of-report marker look; this module walks the lines and turns each address
block into a recipient with its diagnostic text, status, reply code, remote
MTA and the SMTP command that failed.

Everything here works on at most :data:`MAX_LINES` lines so that a hostile
body cannot make a detector slow.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from responsemaster.classify.detection import Detection, recipient
from responsemaster.classify.smtp_text import clean_diagnostic, find_reply_code, find_status
from responsemaster.parse import linear
from responsemaster.parse.message import ParsedMessage
from responsemaster.verdict import RecipientVerdict

MAX_LINES = 600

#: An e-mail address as bounces print it (local parts with % routing, hosts without dots).
ADDRESS = linear.compile(r"[\w!#$%&'*+/=?^`{|}~.-]+@[\w-]+(?:\.[\w-]+)*", re.ASCII)

#: Where the returned original starts in a plain-text bounce, whatever the MTA.
ORIGINAL = linear.compile(
    r"^\s*(?:[-=*|_>]+\s*)?(?:"
    r"below this line is a copy of the message|this is a copy of the message|"
    r"original message (?:follows|headers|below)|(?:the )?header of the original message|"
    r"included is a copy of the message|unsent message follows|returned message|"
    r"message headers follow|message text follows|original message\s*-|"
    r"a copy of the original message|copy of the original message|undelivered message|"
    r"headers of the original message|original mail|original message is|"
    r"original message header|message header follows|content-description: undelivered message|"
    r"-+\s*original message\s*-+)",
    re.I,
)

_BOUNCE_SENDER = linear.compile(r"^(?:mailer-daemon|postmaster|post_master|mail\.delivery\.system|mdaemon|"
                            r"mail-daemon|maildaemon|no-?reply|bounces?|mailer|mail-?delivery|"
                            r"notify|administrator|root)\b", re.I)
_REMOTE = linear.compile(
    r"(?:\bhost\s*:?\s+|while talking to\s+|talking to\s+|connected to\s+|"
    r"server for the recipient domain \S+ by\s+|generating server:\s*)"
    r"\[?([A-Za-z0-9][\w.-]*\.[A-Za-z0-9-]+|\d+\.\d+\.\d+\.\d+)\]?",
    re.I,
)
_COMMAND = linear.compile(
    r"(?:\bafter\s+|in reply to\s+|following\s+|progress was\s+|did not like our\s+|response to\s+|>>>\s*|"
    r"\bSMTP:|\bSTEP:\s*|\[|\berror\s+(?:following|after)\s+|command\s*[:\n]\s*)"
    r"(?:the\s+)?(end of data|final DATA|DATA|BDAT|RCPT(?:[ _]TO)?|MAIL(?:[ _]FROM)?|HELO|EHLO|STARTTLS|CONNECT|AUTH"
    r"|initial connection)\b"
    r"|(refused to talk to me|greeting)"
    r"|does not like (recipient|sender)\b"
    r"|\b(recipient|sender) address rejected:"
    r"|\b(RCPT TO|MAIL FROM) generated following response",
    re.I,
)
#: Stages named in words: qmail-remote's "does not like recipient", Postfix's
#: "Recipient address rejected:" (its smtpd says it only in answer to RCPT TO),
#: IMail's "RCPT TO generated following response:".
_STAGE_WORDS = {"RECIPIENT": "RCPT", "SENDER": "MAIL"}
#: The group of _COMMAND whose stage is only inferred from a server's words (Postfix's "... address rejected:").
_INFERRED_GROUP = 3
#: Names the scanner reads that mean "the server refused us at connection time".
_CONNECTION = ("CONNECT", "INITIAL CONNECTION", "REFUSED TO TALK TO ME", "GREETING")


@dataclass
class Block:
    """One failed address and the lines of text that explain it."""

    address: str
    lines: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(line.strip() for line in self.lines if line.strip())


def body_lines(msg: ParsedMessage, limit: int = MAX_LINES) -> list[str]:
    """The body's lines, bounded; split once per message (callers must not modify the list)."""
    cache: dict[int, list[str]] = msg.__dict__.setdefault("_scan_lines", {})
    lines = cache.get(limit)
    if lines is None:
        lines = cache[limit] = msg.body_text.splitlines()[:limit]
    return lines


def _joined(lines: list[str]) -> str:
    """``lines`` joined by LF (remembered for the last list asked for)."""
    global _last_joined
    if _last_joined[0] is not lines:
        _last_joined = (lines, "\n".join(lines))
    return _last_joined[1]


_last_joined: tuple[list[str], str] = ([], "")


def report_lines(
    msg: ParsedMessage,
    start: re.Pattern[str] | None = None,
    stop: re.Pattern[str] | None = ORIGINAL,
    lines: list[str] | None = None,
) -> list[str]:
    """The lines after the first ``start`` match up to ``stop`` ([] without ``start``).

    Most detectors look for an introduction their MTA writes and most
    messages are not from that MTA: one scan of the joined lines settles
    that before any line-by-line search.
    """
    lines = body_lines(msg) if lines is None else lines
    text = _joined(lines)
    begin = offset = 0
    if start is not None:
        if not linear.multiline(start).test(text):
            return []
        for index, line in enumerate(lines):
            if start.search(line):
                begin = index + 1
                break
            offset += len(line) + 1
        else:
            return []
        offset += len(lines[begin - 1]) + 1
    if stop is None or linear.multiline(stop).search(text, min(offset, len(text))) is None:
        return lines[begin:]
    out = []
    for line in lines[begin:]:
        if stop.search(line):
            break
        out.append(line)
    return out


def blocks(lines: Iterable[str], rcpt: re.Pattern[str], stop: re.Pattern[str] | None = None) -> list[Block]:
    """Split ``lines`` at every line ``rcpt`` matches (its ``addr`` group or first address).

    Text on the address line after the address (group ``diag`` when the pattern
    has one) starts the block's diagnostic.
    """
    found: list[Block] = []
    for line in lines:
        if stop is not None and stop.search(line):
            break
        match = rcpt.search(line)
        address = _address_of(match) if match else ""
        if address:
            first = match.group("diag") if "diag" in rcpt.groupindex and match.group("diag") else ""
            found.append(Block(address, [first] if first else []))
        elif found:
            found[-1].lines.append(line)
    return found


def _address_of(match: re.Match[str]) -> str:
    text = match.group("addr") if "addr" in match.re.groupindex else match.group(0)
    found = ADDRESS.search(text or "")
    return found.group(0).strip(".") if found else ""


def make_recipient(address: str, text: str, **extra: str) -> RecipientVerdict:
    """A recipient with everything the error text says about it."""
    diagnostic = clean_diagnostic(text)
    return recipient(
        address,
        diagnostic=diagnostic,
        status=extra.pop("status", "") or find_status(diagnostic),
        reply_code=extra.pop("reply_code", "") or find_reply_code(diagnostic),
        remote_mta=extra.pop("remote_mta", "") or remote_mta(diagnostic),
        command=extra.pop("command", "") or smtp_command(text),
        **extra,
    )


def detection(name: str, found: Iterable[Block], **extra: str) -> Detection | None:
    """A Detection for the blocks (duplicates merged), or None when there are none."""
    merged: dict[str, Block] = {}
    for block in found:
        key = block.address.lower()
        if key in merged:
            merged[key].lines.extend(block.lines)
        else:
            merged[key] = Block(block.address, list(block.lines))
    recipients = [make_recipient(b.address, b.text, **dict(extra)) for b in merged.values()]
    if not recipients:
        return None
    return Detection(detector=name, recipients=recipients)


def remote_mta(text: str) -> str:
    match = _REMOTE.search(text or "")
    return match.group(1).rstrip(".").lower() if match else ""


def smtp_command(text: str) -> str:
    """The SMTP command the remote server was answering: RCPT, MAIL, DATA, HELO, ...

    What the reporting MTA states ("in reply to end of DATA command",
    "after RCPT TO", a ``>>> DATA`` transcript line) outranks what the
    server's own words suggest ("Recipient address rejected:" is Postfix's
    RCPT wording, but a server can say it at any stage): the statement is the
    MTA's record of the command it had sent.
    """
    return stated_command(text) or _command_name(_matches(text, stated=False))


def stated_command(text: str) -> str:
    """The command the reporting MTA says it was answered at ('' when it says none)."""
    return _command_name(_matches(text, stated=True))


def _matches(text: str, stated: bool) -> list[str]:
    found = []
    for match in _COMMAND.finditer(text or ""):
        index = next(i for i, g in enumerate(match.groups()) if g)
        if (index != _INFERRED_GROUP) == stated:
            found.append(match.group(index + 1).upper())
    return found


def _command_name(commands: list[str]) -> str:
    if not commands:
        return ""
    last = _STAGE_WORDS.get(commands[-1], commands[-1])
    if last in ("END OF DATA", "FINAL DATA", "BDAT"):  # BDAT: the message sent in chunks (RFC 3030)
        return "DATA"
    if last in _CONNECTION:
        return "CONN"
    return last.split()[0].split("_")[0]


def sender_is_daemon(msg: ParsedMessage) -> bool:
    """From is a mailer daemon or postmaster (or empty, as some daemons send it)."""
    sender = msg.sender or msg.header("From")  # msg.sender is the parsed From address
    local = sender.split("@")[0].strip().strip("<>\"' ").lower()  # "From: <>" is the null sender
    return not local or bool(_BOUNCE_SENDER.match(local))


def subject_matches(msg: ParsedMessage, pattern: re.Pattern[str]) -> bool:
    return bool(pattern.search(msg.subject))


def body_has(msg: ParsedMessage, pattern: re.Pattern[str], chars: int = 20_000) -> bool:
    return bool(pattern.search(msg.body_text[:chars]))


def own_addresses(msg: ParsedMessage) -> set[str]:
    """Addresses that are never the failed recipient: the bounce's own From/To."""
    found = set()
    for name in ("From", "To", "Reply-To", "Return-Path"):
        for _, address in email.utils.getaddresses([msg.header(name)]):
            if address:
                found.add(address.lower())
    return found
