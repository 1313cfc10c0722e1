"""Which reported addresses are failed recipients: one report each, never our own or a list's.

Detectors read addresses out of many shapes of text, and some shapes name
more than the recipients that failed:

- a DSN that lists one recipient once per attempt (or per relay hop) would
  count one address many times: a recipient is reported once per message,
  with its first, most specific, report;
- the returned original's headers carry a mailing list's own addresses
  (RFC 2369 ``List-Post``, ``List-Owner``, ``List-Help``, ``List-Subscribe``,
  ``List-Unsubscribe``; the ``-request``/``-owner``/``-bounces`` addresses list
  managers such as Mailman, Majordomo and Sympa use for commands and
  returns): a list never failed as a subscriber;
- the bounce is sent to the mailer's envelope sender (the bounce's own
  ``To``/``Delivered-To``/``X-Original-To``, the original's ``Return-Path``):
  reporting it as failed would prune ourselves;
- quoting around an address (``'user@example.org'``, ``"user@example.org``)
  is not part of it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from responsemaster.parse.message import ParsedMessage
from responsemaster.verdict import RecipientVerdict

#: RFC 2369 list headers whose mailto: URLs are the list's own addresses.
LIST_HEADERS = ("List-Post", "List-Owner", "List-Help", "List-Subscribe", "List-Unsubscribe")
#: Headers naming where the bounce was delivered: the mailer's envelope sender.
OWN_HEADERS = ("To", "Delivered-To", "X-Original-To", "Envelope-To")
#: Local parts list managers use for their own command and return addresses.
_LIST_LOCAL = re.compile(r"(?:-request|-owner|-bounces)(?:\+[^@]*)?$|^owner-", re.I)
_MAILTO = re.compile(r"mailto:([^?>\s,]+)", re.I)
_ADDRESS = re.compile(r"[^\s<>\"',;()]+@[^\s<>\"',;()]+")
_QUOTES = "'\"`<>()[] "


def clean(recipients: Iterable[RecipientVerdict], msg: ParsedMessage) -> list[RecipientVerdict]:
    """The failed recipients worth reporting, in report order, each once.

    Our own and a list's addresses are dropped only beside another
    candidate: test fixtures and anonymised samples often give the failed
    recipient, the envelope sender and the To header one placeholder
    address, and a report that names nobody else is about that address.
    """
    unique: list[RecipientVerdict] = []
    seen: set[str] = set()
    for rcpt in recipients:
        rcpt.address = strip_quotes(rcpt.address)
        if rcpt.final_recipient:
            rcpt.final_recipient = strip_quotes(rcpt.final_recipient)
        key = (rcpt.final_recipient or rcpt.address).lower()
        if key and key not in seen:
            seen.add(key)
            unique.append(rcpt)
    if len(unique) < 2:
        return unique
    own = own_addresses(msg)
    kept = [r for r in unique if r.address.lower() not in own and not is_list_address(r.address)]
    return kept or unique


def strip_quotes(address: str) -> str:
    """The address without the quotes, brackets or spaces a report put around it."""
    return address.strip(_QUOTES)


def is_list_address(address: str) -> bool:
    local = address.rpartition("@")[0]
    return bool(local) and bool(_LIST_LOCAL.search(local))


def own_addresses(msg: ParsedMessage) -> set[str]:
    """Addresses that are the mailer's or a list's: never failed recipients."""
    found: set[str] = set()
    sources = [None, msg.original_headers] if msg.original_headers is not None else [None]
    for source in sources:
        for name in LIST_HEADERS:
            found.update(m.lower() for m in _MAILTO.findall(msg.header(name, source) if source else msg.header(name)))
    for name in OWN_HEADERS:
        found.update(_addresses(msg.header(name)))
    if msg.original_headers is not None:
        found.update(_addresses(msg.original_header("Return-Path")))
    found.discard("")
    return found


def _addresses(value: str) -> set[str]:
    return {strip_quotes(m).lower() for m in _ADDRESS.findall(value or "")}
