"""The contract every returned-mail source implements.

A source yields raw messages with a stable key, and is told afterwards what
became of each one: ``ack`` once its verdict and effects are committed (the
message leaves the inbox: moved to a processed folder, never deleted),
``quarantine`` when it could not be parsed or classified (kept whole, with the
reason). Nothing is acknowledged before the store has committed, so a crash at
any point loses nothing; the store's unique (source, key) makes the replay
after a crash a no-op.

Optional extensions (not part of the protocol, so a source need not have
them; call them through the helpers below): ``wait(timeout) -> bool`` blocks
until new mail may be there (IMAP IDLE, a Maildir poll), ``renew_leases()``
keeps claims alive during a long batch, ``release(keys)`` gives held
messages back at once (the worker retries its failures before it stops),
``quarantined()`` / ``processed()`` count what the source itself holds.
"""

from __future__ import annotations

import functools
import hashlib
import time
from dataclasses import dataclass, field
from typing import Protocol


def claims_check_interval(lease_seconds: float) -> float:
    """Seconds between two looks for other workers' expired claims: a tenth of the lease, a second at most.

    A worker gathers its batch in several fetches a moment apart; looking on
    each one read every claim again, for leases counted in whole minutes.
    """
    return min(1.0, lease_seconds / 10)


@dataclass(frozen=True)
class RawMessage:
    """One message as it sits in a source."""

    #: The configured name of the source it came from.
    source: str
    #: Stable within the source across restarts (Maildir unique name,
    #: IMAP ``UIDVALIDITY:UID``, mbox offset...).
    key: str
    raw: bytes
    #: A file holding exactly these bytes, when the source has one (a Maildir claim): the
    #: store may hard-link it rather than write a copy. Only a hint: it may be gone by then.
    file: str | None = field(default=None, compare=False)

    @functools.cached_property
    def sha256(self) -> str:
        """Computed once (the worker needs it three times per message)."""
        return hashlib.sha256(self.raw).hexdigest()


class Source(Protocol):
    """Where returned mail waits: a Maildir, an IMAP mailbox, an mbox file..."""

    name: str

    def fetch(self, limit: int) -> list[RawMessage]:
        """Up to ``limit`` messages not yet acknowledged, oldest first."""
        ...

    def ack(self, key: str) -> None:
        """The message's verdict and effects are committed: take it out of the inbox."""
        ...

    def quarantine(self, key: str, reason: str) -> None:
        """Move the message, byte for byte, to the errors folder with ``reason``."""
        ...

    def pending(self) -> int:
        """How many messages wait in the inbox."""
        ...

    def close(self) -> None:
        ...


def wait_for_mail(source: Source, timeout: float) -> bool:
    """Block until ``source`` may have new mail, or ``timeout`` seconds.

    Uses the source's own ``wait`` (IMAP IDLE, a Maildir poll) when it has
    one; otherwise sleeps. True means "fetch again now".
    """
    wait = getattr(source, "wait", None)
    if wait is not None:
        return bool(wait(timeout))
    time.sleep(timeout)
    return False
