"""Reading SMTP reply codes, RFC 3463 status codes and MTA names out of text.

Shared by every detector, so that a ``550-5.1.1`` is read the same way
whichever format carried it.
"""

from __future__ import annotations

import re

_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.]*\d)")
_REPLY = re.compile(r"(?<![\w.#/=%-])([245][0-5]\d)(?![\w.]|:\d)")
_DIAG_PREFIX = re.compile(r"^\s*(?:smtp|x-[\w.-]+|x-unix|mailbox|unknown|uucp|x400)\s*;\s*", re.I)
_WS = re.compile(r"\s+")


def find_status(text: str) -> str:
    """The first RFC 3463 enhanced status code in ``text`` ('' if none)."""
    match = _STATUS.search(text or "")
    return ".".join(match.groups()) if match else ""


def find_reply_code(text: str) -> str:
    """The first plausible SMTP reply code (2xx-5xx) in ``text``."""
    match = _REPLY.search(text or "")
    return match.group(1) if match else ""


def clean_diagnostic(text: str, limit: int = 2000) -> str:
    """A diagnostic on one line, without the ``smtp;`` type prefix."""
    text = _DIAG_PREFIX.sub("", text or "")
    return _WS.sub(" ", text).strip()[:limit]


def status_class(status: str) -> str:
    """'5', '4' or '2' from a status or reply code ('' if unknown)."""
    return status[:1] if status[:1] in ("2", "4", "5") else ""
