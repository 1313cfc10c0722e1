"""Reading SMTP reply codes, RFC 3463 status codes and MTA names out of text.

Shared by every detector, so that a ``550-5.1.1`` is read the same way
whichever format carried it.
"""

from __future__ import annotations

import re

_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.]*\d)")
_REPLY = re.compile(r"(?<![\w.#/=%-])([245][0-5]\d)(?![\w.]|:\d)")
_DIAG_PREFIX = re.compile(r"^\s*(?:smtp|x-[\w.-]+|x-unix|mailbox|unknown|uucp|x400)\s*;\s*", re.I)
#: A server's reply as a relaying MTA quotes it: "550 ...", "550-...", "<addr>: 550 ...", "addr: 550 ...".
_OPENS_WITH_REPLY = re.compile(r"^\s*(?:<?[^\s<>@]+@[^\s<>]+>?:?\s+)?[245]\d\d[\s-]")
#: Where a relaying MTA's narration ends and the server's reply begins: "... said: 550 ...",
#: Exim's "SMTP error from remote mail server after RCPT TO:<addr>: 550 ...".
_QUOTED_REPLY = re.compile(r":\s+([245]\d\d(?:[\s-].*)?)$", re.S)


def find_status(text: str) -> str:
    """The first RFC 3463 enhanced status code in ``text`` ('' if none)."""
    match = _STATUS.search(text or "")
    return ".".join(match.groups()) if match else ""


def find_reply_code(text: str) -> str:
    """The first plausible SMTP reply code (2xx-5xx) in ``text``."""
    match = _REPLY.search(text or "")
    return match.group(1) if match else ""


def clean_diagnostic(text: str, limit: int = 2000) -> str:
    """A diagnostic on one line, without the ``smtp;`` type prefix.

    ``str.split`` splits at the characters ``\\s`` matches (both are
    ``str.isspace``), so joining the words is the substitution of every run of
    white space by one space, stripped, without a match object per space.
    """
    text = _DIAG_PREFIX.sub("", text or "")
    return " ".join(text.split())[:limit]


def status_class(status: str) -> str:
    """'5', '4' or '2' from a status or reply code ('' if unknown)."""
    return status[:1] if status[:1] in ("2", "4", "5") else ""


def status_restates_reply(status: str, diagnostic: str) -> bool:
    """The DSN's specific Status is the reporting MTA's reading of a bare reply code, not the server's.

    True when the diagnostic is a server reply (it opens with a reply code)
    that does not carry the DSN's specific status: the reporting MTA made
    that status up from the code and the stage. Sendmail writes ``Status:
    5.1.1`` ("User unknown") for any ``550`` to RCPT TO ("550 Rejected",
    "550 Denied by policy", "550 5.0.0 Message rejected"), so such a status
    says no more than the reply code (a reply code alone is never
    evidence of a dead address).
    """
    parts = status.split(".")
    if len(parts) != 3 or parts[2] in ("0", ""):
        return False
    said = {".".join(m.groups()) for m in _STATUS.finditer(diagnostic or "")}
    return bool(_OPENS_WITH_REPLY.match(diagnostic or "")) and status not in said


def quoted_reply(diagnostic: str) -> str:
    """The server's own reply inside a relaying MTA's narration of it ('' when the text is the reply already).

    Rules written for a reply as a whole ("550 Blocked" and nothing else)
    must read it the same whichever MTA quoted it.
    """
    if not diagnostic or _OPENS_WITH_REPLY.match(diagnostic):
        return ""
    match = _QUOTED_REPLY.search(diagnostic)
    return match.group(1) if match else ""
