"""An IMAP mailbox as a source (imapclient), safe with several workers.

Keys are ``<UIDVALIDITY>:<UID>`` of the configured mailbox. Bodies are read
with ``BODY.PEEK[]``, so nothing is marked \\Seen before the store commits.

Claims: a worker claims a message by setting the keyword ``$RMClaimed`` with a
*conditional* STORE (RFC 7162 CONDSTORE): ``UID STORE <uids> (UNCHANGEDSINCE
<modseq>) +FLAGS.SILENT ($RMClaimed $RMBy<worker>)``, where ``<modseq>`` is the
message's mod-sequence seen when it was checked to be unclaimed. Any change
after that check (another worker's claim) raises the message's mod-sequence,
so the server refuses the store for it (``[MODIFIED ...]``): exactly one worker
wins. The check reads only FETCH responses that carry their UID (see
``_modseq_and_flags``: an unsolicited update filed under its sequence number
once made a claimed message look free). The worker's own keyword names the
owner and makes every claim change something. The message stays in place, so
its key stays the same. (A claim by ``UID MOVE`` into a per-worker folder was
measured and rejected: on Dovecot's Maildir storage concurrent MOVEs of one
message each succeed, 1,500 of 2,000 messages landed in two or three folders.)
Leases: the owner
flips a second keyword, ``$RMLease``, at least every third of the lease, which
bumps the mod-sequence; another worker that sees a claimed message whose
mod-sequence has not moved for a whole lease releases it (again with a
conditional store, so a renewal in between wins) and it becomes fetchable.

Ack is ``UID MOVE`` (RFC 6851) to the processed folder, or COPY + \\Deleted +
``UID EXPUNGE`` of that UID only (UIDPLUS) on servers without MOVE. Quarantine
moves the message the same way to the errors folder and appends beside it a
separate note (keyword ``$RMReason``) whose ``X-ResponseMaster-Quarantine-Reason``
header gives the reason: the message's own bytes are never altered.

UIDVALIDITY is recorded in ``<state_dir>/imap-<source>.json``. When it changes
(the mailbox was rebuilt) every key changes with it: held claims are dropped,
messages are fetched again under new keys, and the store recognises the ones
it already has by the sha256 of their bytes.

A filter (IMAP SEARCH criteria) limits the messages this source ever touches,
so unrelated mail in a shared inbox is neither flagged, read, nor moved.
"""

from __future__ import annotations

import hashlib
import imaplib
import json
import logging
import re
import secrets
import socket
import ssl
import time
from collections.abc import Iterable
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError

from responsemaster.ingest.imap_connection import (
    ImapConfig, close_quietly, connect, modseq_and_flags, parse_uid_set, reason_note, search_filter, uid_set,
)
from responsemaster.ingest.maildir_io import write_json_atomic
from responsemaster.ingest.source import RawMessage, claims_check_interval

__all__ = ["ImapConfig", "ImapSource", "search_filter"]

log = logging.getLogger(__name__)

CLAIMED = "$RMClaimed"
LEASE = "$RMLease"
OWNER_PREFIX = "$RMBy"
REASON_NOTE = "$RMReason"
CONNECTION_ERRORS = (IMAPClientAbortError, imaplib.IMAP4.abort, ConnectionError, socket.timeout, ssl.SSLError, EOFError)


class ImapSource:
    """One mailbox of one account; each worker uses its own instance (own connection)."""

    def __init__(self, name: str, config: ImapConfig, *, window: int = 1000, ack_batch: int = 200) -> None:
        self.name = name
        self.config = config
        self.window = window
        self.ack_batch = ack_batch
        #: Acked UIDs not yet moved (see ``ack``).
        self._acks: list[int] = []
        self.uidvalidity: int | None = None
        self.uidvalidity_changes = 0
        self._client: IMAPClient | None = None
        self._caps: frozenset[bytes] = frozenset()
        #: uid -> (time of claim or last renewal, $RMLease currently set, sha256 once read)
        self._held: dict[int, list] = {}
        #: other workers' claims: uid -> (modseq, when first seen at that modseq)
        self._observed: dict[int, tuple[int, float]] = {}
        #: When :meth:`_release_expired` may look at the other workers' claims again (monotonic seconds).
        self._next_release = 0.0
        self._cursor = 1
        #: This worker's claim keyword (see the module docstring).
        self._owner = f"{OWNER_PREFIX}{secrets.token_hex(4)}"

    # -- connection -----------------------------------------------------------

    def _conn(self) -> IMAPClient:
        if self._client is None:
            client = connect(self.config)
            self._caps = frozenset(client.capabilities())
            info = client.select_folder(self.config.mailbox)
            self._client = client
            self._check_uidvalidity(int(info[b"UIDVALIDITY"]))
        return self._client

    def _call(self, operation, *args):  # type: ignore[no-untyped-def]
        """Run ``operation(client, *args)``; after a dropped connection, reconnect and retry once."""
        for attempt in range(2):
            try:
                return operation(self._conn(), *args)
            except CONNECTION_ERRORS as exc:
                log.warning("%s: IMAP connection lost (%s); reconnecting", self.name, exc)
                self._drop()
                if attempt:
                    raise
                time.sleep(0.2)
        raise AssertionError("unreachable")

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.shutdown()
            except Exception:  # noqa: BLE001 - the socket is already gone
                pass

    def _check_uidvalidity(self, value: int) -> None:
        """Record UIDVALIDITY; on a change, forget everything keyed by the old one."""
        path = self.config.state_dir / f"imap-{re.sub(r'[^A-Za-z0-9._-]', '_', self.name)}.json"
        recorded = json.loads(path.read_text())["uidvalidity"] if path.exists() else None
        if recorded is not None and recorded != value:
            log.warning(
                "%s: UIDVALIDITY changed %s -> %s: keys change; messages are fetched again and "
                "recognised by their sha256",
                self.name,
                recorded,
                value,
            )
            self.uidvalidity_changes += 1
            self._held.clear()
            self._acks.clear()
            self._observed.clear()
            self._cursor = 1
        if recorded != value:
            write_json_atomic(path, {"uidvalidity": value, "mailbox": self.config.mailbox})
        self.uidvalidity = value

    # -- the Source protocol ----------------------------------------------------

    def fetch(self, limit: int) -> list[RawMessage]:
        """Claim and read up to ``limit`` matching messages, lowest UIDs first."""
        return self._call(self._fetch, limit)

    def ack(self, key: str) -> None:
        """Move the message to the processed folder (a no-op if it is already gone).

        Acks are gathered and sent as one ``UID MOVE`` per ``ack_batch`` (and
        before the next fetch, wait, count or close): a server that fsyncs each
        MOVE would otherwise cap the drain rate. That is safe because an ack
        need not be durable: the messages stay claimed by this worker until the
        MOVE, and after a crash they come back when the lease runs out and the
        store recognises them.
        """
        uid = self._uid(key)
        if uid is not None:
            self._acks.append(uid)
            if len(self._acks) >= self.ack_batch:
                self.flush()

    def flush(self) -> None:
        """Send the gathered acks now."""
        if self._acks:
            uids, self._acks = sorted(set(self._acks)), []
            self._call(self._move, uids, self.config.processed_folder)
            for uid in uids:
                self._held.pop(uid, None)

    def quarantine(self, key: str, reason: str) -> None:
        """Move the message untouched to the errors folder, with a reason note beside it."""
        uid = self._uid(key)
        if uid is not None:
            self._call(self._quarantine, uid, key, reason)
            self._held.pop(uid, None)
            if uid in self._acks:
                self._acks.remove(uid)

    def pending(self) -> int:
        """Matching messages in the mailbox, claimed ones included (they are not done)."""
        self.flush()
        return len(self._call(lambda client: client.search(self._criteria("NOT DELETED"))))

    def close(self) -> None:
        """Send gathered acks, release this worker's claims and log out."""
        try:
            self.flush()
        except Exception as exc:  # noqa: BLE001 - unsent acks come back after the lease
            log.warning("%s: could not send acks on close: %s", self.name, exc)
        if self._client is not None and self._held:
            try:
                self._client.remove_flags(sorted(self._held), [CLAIMED, LEASE, self._owner], silent=True)
            except Exception as exc:  # noqa: BLE001 - the leases will expire anyway
                log.info("%s: could not release claims on close: %s", self.name, exc)
        self._held.clear()
        close_quietly(self._client)
        self._client = None

    # -- extensions -------------------------------------------------------------

    def release(self, keys: Iterable[str]) -> None:
        """Take this worker's claim off these held messages now, to be fetched again (a failure to retry)."""
        uids = sorted(uid for uid in map(self._uid, keys) if uid is not None and uid in self._held)
        if uids:
            self._call(lambda client: client.remove_flags(uids, [CLAIMED, LEASE, self._owner], silent=True))
            for uid in uids:
                self._held.pop(uid, None)

    def wait(self, timeout: float) -> bool:
        """Block until the mailbox changes (IDLE) or ``timeout``; True if new mail may be there."""
        try:
            self.flush()
            client = self._conn()
            if not (self.config.idle and b"IDLE" in self._caps):
                time.sleep(timeout)
                return False
            return self._idle(client, time.monotonic() + timeout)
        except CONNECTION_ERRORS as exc:
            log.warning("%s: connection lost while idle (%s)", self.name, exc)
            self._drop()
            return False

    @staticmethod
    def _idle(client: IMAPClient, deadline: float) -> bool:
        """IDLE until new mail (EXISTS/RECENT) or the deadline; keep-alives don't count."""
        client.idle()
        try:
            while (left := deadline - time.monotonic()) > 0:
                responses = client.idle_check(left)
                if any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
                    return True
            return False
        finally:
            client.idle_done()

    def renew_leases(self) -> None:
        """Renew every held claim now (for a batch that runs long)."""
        self._call(self._renew, 0.0)

    def quarantined(self) -> int:
        """Messages in the errors folder (reason notes not counted)."""
        def count(client: IMAPClient) -> int:
            client.select_folder(self.config.errors_folder, readonly=True)
            try:
                return len(client.search(["NOT", "KEYWORD", REASON_NOTE]))
            finally:
                client.select_folder(self.config.mailbox)

        return self._call(count)

    # -- internals --------------------------------------------------------------

    def _criteria(self, *parts: str) -> str:
        return " ".join(p for p in (*parts, self.config.criteria and f"({self.config.criteria})") if p)

    def _uid(self, key: str) -> int | None:
        validity, _, uid = key.partition(":")
        self._conn()
        if not (uid.isascii() and uid.isdigit()) or str(self.uidvalidity) != validity:
            log.warning("%s: key %s is from another UIDVALIDITY (now %s); left for re-fetch", self.name, key, self.uidvalidity)
            return None
        return int(uid)

    def _fetch(self, client: IMAPClient, limit: int) -> list[RawMessage]:
        if self._acks:
            uids, self._acks = sorted(set(self._acks)), []
            self._move(client, uids, self.config.processed_folder)
            for uid in uids:
                self._held.pop(uid, None)
        self._renew(client, self.config.lease_seconds / 3)
        if time.monotonic() >= self._next_release:
            # As the Maildir source does: each look reads the MODSEQ and FLAGS of every claim the other
            # workers hold (thousands of FETCH responses parsed), and a batch takes several fetches.
            self._release_expired(client)
            self._next_release = time.monotonic() + claims_check_interval(self.config.lease_seconds)
        uidnext = int(client.folder_status(self.config.mailbox, [b"UIDNEXT"])[b"UIDNEXT"])
        start = min(self._cursor, uidnext)
        ranges = [(start, uidnext - 1), (1, start - 1)]
        batch: list[RawMessage] = []
        for low, high in ranges:
            while low <= high and len(batch) < limit:
                top = min(high, low + self.window - 1)
                found = client.search(self._criteria(f"UID {low}:{top}", f"UNKEYWORD {CLAIMED}", "NOT DELETED"))
                candidates = sorted(u for u in found if low <= u <= top)
                while candidates and len(batch) < limit:  # refused claims: try the next ones
                    wanted, candidates = candidates[: limit - len(batch)], candidates[limit - len(batch) :]
                    batch.extend(self._read(client, self._claim(client, wanted)))
                    self._cursor = wanted[-1] + 1
                if not candidates:
                    self._cursor = top + 1
                low = top + 1
        if self._cursor >= uidnext:
            self._cursor = 1
        return batch

    def _claim(self, client: IMAPClient, uids: list[int]) -> list[int]:
        """The subset of ``uids`` this worker now owns (see the module docstring)."""
        if not uids:
            return []
        if b"CONDSTORE" not in self._caps:
            client.add_flags(uids, [CLAIMED], silent=True)  # not atomic: see docs/sources.md
            won = uids
        else:
            meta = self._modseq_and_flags(uids)
            free = [u for u in uids if u in meta and CLAIMED.encode() not in meta[u][b"FLAGS"]]
            if not free:
                return []
            # Each message is claimed only if unchanged since *its own* mod-sequence as
            # seen unclaimed: one UNCHANGEDSINCE for the whole batch (the highest) let a
            # claim made meanwhile by another worker pass whenever a newer message was
            # in the batch.
            by_modseq: dict[int, list[int]] = {}
            for uid in free:
                by_modseq.setdefault(meta[uid][b"MODSEQ"][0], []).append(uid)
            refused: set[int] = set()
            for modseq, group in by_modseq.items():
                refused |= self._store_unchangedsince(group, modseq, "+FLAGS.SILENT", [CLAIMED, self._owner])
            won = [u for u in free if u not in refused]
        now = time.monotonic()
        for uid in won:
            self._held[uid] = [now, False, None]
        return won

    def _modseq_and_flags(self, uids: list[int]) -> dict[int, dict[bytes, Any]]:
        """MODSEQ and FLAGS per UID, read only from responses that name their UID (see ``modseq_and_flags``)."""
        return modseq_and_flags(self._client, uids)  # type: ignore[arg-type]

    def _store_unchangedsince(self, uids: list[int], modseq: int, action: str, flags: list[str]) -> set[int]:
        """A conditional STORE (RFC 7162); returns the UIDs the server refused as modified."""
        imap = self._client._imap  # type: ignore[union-attr]  # imapclient has no UNCHANGEDSINCE
        imap.untagged_responses.pop("MODIFIED", None)
        typ, data = imap.uid("STORE", uid_set(uids), f"(UNCHANGEDSINCE {modseq})", action, f"({' '.join(flags)})")
        if typ != "OK":
            raise imaplib.IMAP4.error(f"conditional STORE failed: {data!r}")
        refused: set[int] = set()
        for item in imap.untagged_responses.pop("MODIFIED", []):
            refused |= parse_uid_set(item.decode() if isinstance(item, bytes) else str(item))
        return refused

    def _read(self, client: IMAPClient, uids: list[int]) -> list[RawMessage]:
        if not uids:
            return []
        data = client.fetch(uids, ["BODY.PEEK[]"])
        batch = []
        for uid in uids:
            raw = data.get(uid, {}).get(b"BODY[]")
            if raw is None:  # expunged between claim and read
                self._held.pop(uid, None)
                continue
            self._held[uid][2] = hashlib.sha256(raw).hexdigest()
            batch.append(RawMessage(self.name, f"{self.uidvalidity}:{uid}", raw))
        return batch

    def _renew(self, client: IMAPClient, older_than: float) -> None:
        """Flip $RMLease on held claims older than ``older_than`` seconds (bumps their modseq)."""
        now = time.monotonic()
        due = [uid for uid, held in self._held.items() if now - held[0] >= older_than]
        for lease_set in (True, False):
            uids = [uid for uid in due if self._held[uid][1] is lease_set]
            if uids:
                (client.remove_flags if lease_set else client.add_flags)(uids, [LEASE], silent=True)
                for uid in uids:
                    self._held[uid][:2] = [now, not lease_set]

    def _release_expired(self, client: IMAPClient) -> None:
        """Free other workers' claims whose mod-sequence has not moved for a whole lease."""
        others = [u for u in client.search(self._criteria(f"KEYWORD {CLAIMED}", "NOT DELETED")) if u not in self._held]
        if not others or b"CONDSTORE" not in self._caps:
            self._observed = {}
            return
        meta = self._modseq_and_flags(others)
        now, observed = time.monotonic(), {}
        for uid in others:
            if uid not in meta:
                continue
            modseq = meta[uid][b"MODSEQ"][0]
            seen = self._observed.get(uid)
            observed[uid] = seen if seen is not None and seen[0] == modseq else (modseq, now)
        self._observed = observed
        for uid, (modseq, since) in list(observed.items()):
            if now - since >= self.config.lease_seconds:
                owners = [f.decode() for f in meta[uid][b"FLAGS"] if f.decode().startswith(OWNER_PREFIX)]
                if uid not in self._store_unchangedsince([uid], modseq, "-FLAGS.SILENT", [CLAIMED, LEASE, *owners]):
                    log.info("%s: claim on UID %s expired; released", self.name, uid)
                    self._cursor = 1
                del self._observed[uid]

    def _move(self, client: IMAPClient, uids: list[int], folder: str) -> None:
        """MOVE, or COPY + \\Deleted + UID EXPUNGE of exactly these UIDs.

        A UID another session expunged meanwhile (a lease taken over, a person
        deleting it) fails the whole command with ``[EXPUNGEISSUED]`` while this
        session still sees it: a NOOP brings the view up to date, and the retry
        moves the ones still there (UIDs that are gone are ignored).
        """
        try:
            self._move_once(client, uids, folder)
        except imaplib.IMAP4.error as exc:
            if "EXPUNGEISSUED" not in str(exc):
                raise
            log.info("%s: some of UIDs %s were expunged by another session; moving the rest", self.name, uids)
            client.noop()
            self._move_once(client, uids, folder)

    def _move_once(self, client: IMAPClient, uids: list[int], folder: str) -> None:
        if b"MOVE" in self._caps:
            client.move(uids, folder)
            return
        client.copy(uids, folder)
        client.add_flags(uids, [b"\\Deleted"], silent=True)
        if b"UIDPLUS" in self._caps:
            client.uid_expunge(uids)
        else:
            log.warning("%s: server has neither MOVE nor UIDPLUS: UIDs %s left flagged \\Deleted", self.name, uids)

    def _quarantine(self, client: IMAPClient, uid: int, key: str, reason: str) -> None:
        held = self._held.get(uid)
        digest = held[2] if held and held[2] else None
        if digest is None:
            raw = client.fetch([uid], ["BODY.PEEK[]"]).get(uid, {}).get(b"BODY[]")
            if raw is None:
                log.warning("%s: quarantine of %s: message is gone", self.name, key)
                return
            digest = hashlib.sha256(raw).hexdigest()
        note = reason_note(self.name, key, reason, digest)
        client.append(self.config.errors_folder, note, flags=[REASON_NOTE, b"\\Seen"])
        self._move(client, [uid], self.config.errors_folder)
