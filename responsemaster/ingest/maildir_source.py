"""A local Maildir as a source: the fast path for returned mail.

Claims. Several workers may drain one Maildir. A worker *claims* a message by
renaming it from ``new/`` or ``cur/`` into ``<maildir>/rm-claimed/`` under the
name ``<lease-expiry>~<worker-id>~<original name>``. ``rename(2)`` is atomic
within one file system, so exactly one worker wins each message; the losers
get ``ENOENT`` and move on. A claim whose lease has expired (its worker
crashed or hung) is renamed back into the inbox by the next worker that
fetches, and so becomes fetchable again. The lease lives in the file name,
not in mtime, so a claim is never visible without its expiry.

Ack and quarantine are renames too: into the processed sub-Maildir (Maildir++
``.Processed`` by default) or into the quarantine Maildir, with a JSON record
of the reason in ``<quarantine>/reasons/``. Message bytes are never rewritten.
None of these renames needs an fsync: the store commits first and is keyed by
(source, key), so an ack lost to a power cut only means the message is
fetched again and recognised as done.

Memory stays flat on any size of Maildir: ``fetch`` reads directory entries
lazily (a bounded window, sorted so that older unique names come first) and
reads only the bodies of the messages it returns.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from responsemaster.ingest.maildir_io import (
    INFO_SEP,
    count_entries,
    ensure_maildir,
    key_of,
    move_into,
    read_whole,
    write_quarantine_reason,
)
from responsemaster.ingest.source import RawMessage, claims_check_interval

log = logging.getLogger(__name__)

CLAIMS_DIR = "rm-claimed"
DEFAULT_LEASE_SECONDS = 300.0


def default_worker_id() -> str:
    """Host, pid and a random part: unique even for two sources in one process."""
    host = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname())
    return f"{host}.{os.getpid()}.{uuid.uuid4().hex[:6]}"


def subfolder_path(root: Path, folder: str) -> Path:
    """A plain folder name as a Maildir++ sub-folder of ``root`` (``Processed`` -> ``.Processed``)."""
    return root / (folder if folder.startswith(".") else f".{folder}")


class MaildirSource:
    """One Maildir drained by one worker (other workers use their own instance)."""

    def __init__(
        self,
        name: str,
        root: Path | str,
        *,
        processed: Path | str | None = None,
        quarantine: Path | str | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        worker_id: str | None = None,
        window: int = 1024,
    ) -> None:
        self.name = name
        self.root = ensure_maildir(Path(root))
        self.processed_dir = ensure_maildir(
            Path(processed) if processed is not None else subfolder_path(self.root, "Processed"), subfolder=True
        )
        self.quarantine_dir = ensure_maildir(
            Path(quarantine) if quarantine is not None else subfolder_path(self.root, "Errors")
        )
        self.claims_dir = self.root / CLAIMS_DIR
        self.claims_dir.mkdir(exist_ok=True)
        #: The per-message paths are built as strings (pathlib cost more than the renames' own work).
        self._root, self._claims_path = str(self.root), str(self.claims_dir)
        self.lease_seconds = lease_seconds
        self.worker_id = re.sub(r"[^A-Za-z0-9._-]", "-", worker_id or default_worker_id())
        self.window = window
        #: key -> (claim path, original file name) for messages this worker holds.
        self._held: dict[str, tuple[str, str]] = {}
        #: When (monotonic) ``fetch`` next looks for expired claims.
        self._next_reclaim = 0.0

    # -- the Source protocol -------------------------------------------------

    def fetch(self, limit: int) -> list[RawMessage]:
        """Claim and read up to ``limit`` messages, older unique names first.

        Expired claims are looked for at most every :func:`claims_check_interval`:
        a worker gathers its batch in several fetches a moment apart, and
        each listed every claim of the batch so far again (about 3% of the
        worker's own CPU) for leases counted in whole seconds.
        """
        if time.monotonic() >= self._next_reclaim:
            self.reclaim_expired()
            self._next_reclaim = time.monotonic() + claims_check_interval(self.lease_seconds)
        batch: list[RawMessage] = []
        for sub in ("new", "cur"):
            for filename in self._oldest_names(self.root / sub, limit):
                if len(batch) >= limit:
                    return batch
                message = self._claim_and_read(sub, filename)
                if message is not None:
                    batch.append(message)
            if len(batch) >= limit:
                break
        return batch

    def ack(self, key: str) -> None:
        """Move the message into the processed folder (idempotent)."""
        self._dispose(key, self.processed_dir, what="ack")

    def quarantine(self, key: str, reason: str) -> None:
        """Move the message, bytes untouched, into quarantine with ``reason`` beside it."""
        found = self._find(key)
        if found is None:
            log.warning("%s: quarantine of %s: message not found", self.name, key)
            return
        path, original = found
        with open(path, "rb") as handle:
            data = handle.read()
        write_quarantine_reason(
            self.quarantine_dir, key, source=self.name, key=key, reason=reason,
            data=data, file=f"cur/{_with_info(original)}",
        )
        self._dispose(key, self.quarantine_dir, what="quarantine")

    def pending(self) -> int:
        """Messages waiting: in ``new/``, ``cur/`` or claimed but not yet acked."""
        return sum(count_entries(self.root / sub) for sub in ("new", "cur", CLAIMS_DIR))

    def close(self) -> None:
        """Give back this worker's unacknowledged claims so others need not wait for the lease."""
        self.release(list(self._held))

    def release(self, keys: Iterable[str]) -> None:
        """Put these held messages back in the inbox now, to be fetched again (a failure to retry)."""
        for key in keys:
            held = self._held.pop(key, None)
            if held is None:
                continue
            try:
                os.rename(held[0], self._inbox_path(held[1]))
            except FileNotFoundError:
                pass  # its lease was reclaimed meanwhile: it is back already

    # -- extensions (not in the protocol) -----------------------------------

    def quarantined(self) -> int:
        """Messages in this source's quarantine folder."""
        return sum(count_entries(self.quarantine_dir / sub) for sub in ("new", "cur"))

    def processed(self) -> int:
        """Messages in this source's processed folder."""
        return sum(count_entries(self.processed_dir / sub) for sub in ("new", "cur"))

    def wait(self, timeout: float, poll: float = 0.2) -> bool:
        """Poll ``new/`` until a message appears or ``timeout`` passes; True if one did."""
        deadline = time.monotonic() + timeout
        while True:
            with os.scandir(self.root / "new") as entries:
                if any(not entry.name.startswith(".") for entry in entries):
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(poll, max(0.0, deadline - time.monotonic())))

    def renew_leases(self) -> None:
        """Push the lease of every held claim forward (for a batch that runs long)."""
        expiry = int(time.time() + self.lease_seconds)
        for key, (path, original) in list(self._held.items()):
            target = f"{self._claims_path}/{expiry}~{self.worker_id}~{original}"
            try:
                os.rename(path, target)
            except FileNotFoundError:
                del self._held[key]  # reclaimed by someone else: no longer ours
                continue
            self._held[key] = (target, original)

    def give_back(self, worker_prefix: str) -> int:
        """Return to the inbox the claims of workers whose id starts with ``worker_prefix`` (one that
        died: its parent knows its host and pid), without waiting for their leases; how many."""
        returned = 0
        for entry_name, _expiry, worker, original in self._claims():
            if worker.startswith(worker_prefix):
                try:
                    os.rename(self.claims_dir / entry_name, self._inbox_path(original))
                except FileNotFoundError:
                    continue
                returned += 1
        return returned

    def reclaim_expired(self, now: float | None = None) -> int:
        """Return expired claims (any worker's) to the inbox; how many were returned."""
        now = time.time() if now is None else now
        returned = 0
        for entry_name, expiry, worker, original in self._claims():
            if expiry >= now:
                continue
            try:
                os.rename(self.claims_dir / entry_name, self._inbox_path(original))
            except FileNotFoundError:
                continue
            if worker == self.worker_id:
                self._held.pop(key_of(original), None)
            log.info("%s: lease of %s (worker %s) expired; back in the inbox", self.name, original, worker)
            returned += 1
        return returned

    # -- internals -----------------------------------------------------------

    def _oldest_names(self, folder: Path, limit: int) -> list[str]:
        """A bounded window of entry names, sorted: Maildir names start with the time."""
        wanted = max(self.window, limit)
        names: list[str] = []
        with os.scandir(folder) as entries:
            for entry in entries:
                if not entry.name.startswith("."):
                    names.append(entry.name)
                    if len(names) >= wanted:
                        break
        names.sort()
        return names

    def _claim_and_read(self, sub: str, filename: str) -> RawMessage | None:
        expiry = int(time.time() + self.lease_seconds)
        claim = f"{self._claims_path}/{expiry}~{self.worker_id}~{filename}"
        try:
            os.rename(f"{self._root}/{sub}/{filename}", claim)
        except FileNotFoundError:
            return None  # another worker won it
        key = key_of(filename)
        self._held[key] = (claim, filename)
        try:
            raw = read_whole(claim)
        except OSError as exc:
            self.quarantine(key, f"unreadable: {exc}")
            return None
        return RawMessage(self.name, key, raw, file=claim)

    def _claims(self) -> Iterator[tuple[str, float, str, str]]:
        """(entry name, lease expiry, worker id, original name) of every claim."""
        with os.scandir(self.claims_dir) as entries:
            for entry in entries:
                parts = entry.name.split("~", 2)
                if len(parts) != 3 or not (parts[0].isascii() and parts[0].isdigit()):
                    continue
                yield entry.name, float(parts[0]), parts[1], parts[2]

    def _inbox_path(self, original: str) -> Path:
        return self.root / ("cur" if INFO_SEP in original else "new") / original

    def _find(self, key: str) -> tuple[str, str] | None:
        """Where the message is now: held by us, claimed by another, or in the inbox."""
        held = self._held.get(key)
        if held is not None and os.path.exists(held[0]):
            return held
        for entry_name, _expiry, _worker, original in self._claims():
            if key_of(original) == key:
                return f"{self._claims_path}/{entry_name}", original
        for sub in ("new", "cur"):  # slow path: only after a lost claim
            with os.scandir(self.root / sub) as entries:
                for entry in entries:
                    if key_of(entry.name) == key:
                        return entry.path, entry.name
        return None

    def _dispose(self, key: str, dest: Path, what: str) -> None:
        held = self._held.get(key)
        if held is not None:  # the common case: our claim is where we put it (no stat first)
            try:
                move_into(held[0], dest, _with_info(held[1]))
            except FileNotFoundError:
                pass  # its lease was reclaimed meanwhile: look for it
            else:
                self._held.pop(key, None)
                return
        for _attempt in range(3):
            found = self._find(key)
            if found is None:
                break
            path, original = found
            try:
                move_into(path, dest, _with_info(original))
            except FileNotFoundError:
                continue  # moved under our feet (lease reclaimed): look again
            self._held.pop(key, None)
            return
        self._held.pop(key, None)
        if not _has_key(dest, key):
            log.warning("%s: %s of %s: message not found", self.name, what, key)


def _with_info(original: str) -> str:
    """A ``cur/`` file name: keep the flags a message had, add an empty info part otherwise."""
    return original if INFO_SEP in original else original + INFO_SEP


def _has_key(maildir: Path, key: str) -> bool:
    if (maildir / "cur" / (key + INFO_SEP)).exists():
        return True
    with os.scandir(maildir / "cur") as entries:
        return any(key_of(entry.name) == key for entry in entries)
