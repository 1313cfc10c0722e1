"""What counts as a subscriber's address: one strict syntax check for every way in.

A CSV import, ``mailer add``, the API and returned mail (ARF reports, DSNs,
replies) all pass addresses through :func:`validate_address`, so a row in
``subscribers`` or ``suppressions`` is always a mailable address: never
``undisclosed recipients``, a bare local part, or text with a control
character in it.

``email.utils.parseaddr`` is lenient by design (it will hand back half an
address from garbage), so its result is only accepted when it accounts for
the whole cell and the address passes an RFC 5321 syntax check: a dot-atom
local part of at most 64 octets and a domain of LDH labels with a dot.
Quoted local parts and IP-literal domains are refused: legal, but in a
subscriber list they are nearly always mistakes, and many relays refuse them.
Control characters (C0, DEL, C1) and invisible format characters (zero-width
spaces, bidirectional overrides) are refused anywhere in the cell, display
name included: they hide what an address really is from the person reading it.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from email.utils import parseaddr

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*")
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
#: A bare dot-atom address with LDH labels: nearly every cell of an import and every recipient a
#: bounce names. ``parseaddr`` hands such a text back unchanged (the tests check it on random ones),
#: so it is not called for it: it was most of a worker's address checks.
_PLAIN = re.compile(rf"({_ATEXT}(?:\.{_ATEXT})*)@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)")


class InvalidAddress(ValueError):
    """The cell is not one mailable address; the message says what is wrong."""


def validate_address(cell: str) -> str:
    """The address in ``cell`` (``a@b.example`` or ``Name <a@b.example>``), or InvalidAddress."""
    text = (cell or "").strip(" \t")  # not str.strip(): it would drop U+0085 and other controls unseen
    plain = _PLAIN.fullmatch(text)
    if plain is not None:
        local, domain = plain.groups()
    else:
        local, domain = _parts(text)
    if len(local.encode()) > 64:
        raise InvalidAddress("local part longer than 64 octets")
    return f"{local}@{_check_domain(domain)}"


def _parts(text: str) -> tuple[str, str]:
    """(local part, domain) of any other cell, through ``parseaddr`` and the checks around it."""
    if not text:
        raise InvalidAddress("empty address")
    if any(ch in text for ch in "\r\n\x00"):
        raise InvalidAddress("address contains a line break or NUL")
    bad = next((ch for ch in text if unicodedata.category(ch) in ("Cc", "Cf")), None)
    if bad is not None:
        raise InvalidAddress(f"address contains the control character U+{ord(bad):04X}")
    _name, address = parseaddr(text)
    if not address or "@" not in address:
        raise InvalidAddress(f"not an address: {text[:80]!r}")
    if text not in (address, f"<{address}>") and not text.endswith(f"<{address}>"):
        raise InvalidAddress(f"more than one address or stray text: {text[:80]!r}")
    local, _, domain = address.rpartition("@")
    if not _LOCAL.fullmatch(local):
        raise InvalidAddress(f"invalid local part {local[:64]!r}")
    return local, domain


def _check_domain(domain: str) -> str:
    """The domain, lower-cased and IDNA-encoded when it is internationalised."""
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise InvalidAddress(f"invalid domain {domain[:80]!r}") from None
    labels = ascii_domain.split(".")
    if len(labels) < 2 or len(ascii_domain) > 253:
        raise InvalidAddress(f"domain {domain[:80]!r} needs at least one dot")
    if not all(_LABEL.fullmatch(label) for label in labels):
        raise InvalidAddress(f"invalid domain {domain[:80]!r}")
    if labels[-1].isdigit():
        raise InvalidAddress(f"domain {domain[:80]!r} ends in a number")
    return ascii_domain


#: Values :func:`is_real_address` remembers: more than a batch's addresses (a recipient and a sender
#: for each of ``[worker] batch_size`` = 5,000 messages), a few MB at most.
REMEMBERED_ADDRESSES = 16_384


@functools.lru_cache(maxsize=REMEMBERED_ADDRESSES)
def is_real_address(value: str) -> bool:
    """True when ``value`` passes :func:`validate_address`: the check returned mail must pass to become a subscriber.

    Remembered for the last :data:`REMEMBERED_ADDRESSES` values: the worker asks
    about the same address four times or so per message (attribution, the
    batch's lock order, routing's targets, the verdict row), in passes over
    the whole batch (its targets first, then its rows), and ``parseaddr``
    under the check was a tenth of a drain's CPU. Sized for the repeats
    within a batch, not for a mailbox's whole history: with 256 (when
    batches were 200 messages) a batch of 5,000 found each address gone by
    its second pass.
    """
    try:
        validate_address(value)
    except InvalidAddress:
        return False
    return True
