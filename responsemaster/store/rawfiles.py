"""Kept raw bytes: content-addressed files under ``var/messages/<sha[:1]>/<sha>.eml``.

Write-once and idempotent: the same bytes land on the same path, so a replay
after a crash rewrites nothing and two workers keeping the same message agree.
Files are written to a temporary name and renamed, so a reader never sees half
a message.

Durability, per batch: :meth:`RawFiles.sync` fsyncs every file kept since the
last call (and their directories) from a small pool of threads. A message that
already sits in a durable file of the same file system (a Maildir source's) is
hard-linked rather than copied, and then only its directory needs the fsync. The journal
batches concurrent fsyncs into one commit (200 files in ~30 ms here), and
only our files are flushed: ``syncfs``, used before, flushes every dirty page
of the whole file system and so pays for every other writer on the disk
(seconds per batch on a shared machine, next to a busy MTA).

Sixteen folders (the first hex digit), not 256 (two digits, as before): each
folder a batch touched costs a directory fsync, and a batch of 500 touched
about 220 of 256; with 16 it touches 16. The worker's own CPU per message
fell from 0.325 to 0.277 ms (``benchmarks/worker_overhead.py``, 10,000
messages, alternating runs). A folder holds a sixteenth of the kept files:
ten million messages make 625,000 entries a folder, well inside what ext4's
and XFS's hashed directories look up directly. Files kept under the older
two-digit folders stay where they are: every reader goes by the path stored
in ``raw_messages.path``.
"""

from __future__ import annotations

import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

#: Hex digits of the hash naming a kept file's folder: 1 makes 16 folders (see the module docstring).
FANOUT_DIGITS = 1
#: Threads fsyncing at once: enough for the journal to batch them into one commit.
SYNC_THREADS = 8


class RawFiles:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        #: The paths below are strings: a worker keeps a file per message, and pathlib's
        #: joining and parsing cost more than the work around them.
        self._root = str(self.root)
        self._lock = threading.Lock()
        #: Files named since the last :meth:`sync` (kept now or found already there).
        self._unsynced: list[str] = []
        #: Links made since the last :meth:`sync` (only their directory entries need it).
        self._linked: list[str] = []
        #: Folders known to exist (made or seen by this process; made again if one is removed).
        self._folders: set[str] = set()

    def relpath(self, sha256: str) -> str:
        """Path relative to the var dir, as stored in ``raw_messages.path``."""
        return f"messages/{sha256[:FANOUT_DIGITS]}/{sha256}.eml"

    def path(self, sha256: str) -> Path:
        folder, name = self._place(sha256)
        return Path(folder) / name

    def _place(self, sha256: str) -> tuple[str, str]:
        """(folder, file name) of a kept copy: the one layout :meth:`relpath` names relative to var/."""
        return f"{self._root}/{sha256[:FANOUT_DIGITS]}", f"{sha256}.eml"

    def keep(self, raw: bytes, sha256: str | None = None, link_from: str | None = None) -> str:
        """Store ``raw`` (once) and return its relative path; :meth:`sync` makes it durable.

        ``link_from``: a file holding exactly ``raw`` that its writer made
        durable (a Maildir message: an MDA fsyncs before it accepts one). It
        is hard-linked instead of copied when it can be (same file system,
        still there): a link costs a directory entry, a copy a new file
        written and fsynced (about a third of the worker's time besides
        classifying, on a Maildir). Maildir files are never rewritten in
        place (flags and moves are renames), so the kept bytes stay the
        received ones. A file that is already there is synced too: a worker
        killed before its sync may have left it only in the page cache.
        """
        sha256 = sha256 or hashlib.sha256(raw).hexdigest()
        folder, name = self._place(sha256)
        try:
            self._keep(raw, folder, name, link_from)
        except FileNotFoundError:  # its folder was removed under us (a clean-up of old files): make it again
            self._folders.discard(folder)
            self._keep(raw, folder, name, link_from)
        return self.relpath(sha256)

    def _keep(self, raw: bytes, folder: str, name: str, link_from: str | None) -> None:
        if folder not in self._folders:
            os.makedirs(folder, exist_ok=True)
            self._folders.add(folder)
        final = f"{folder}/{name}"
        if link_from is not None and _link(link_from, final):
            with self._lock:
                self._linked.append(final)
            return
        if not os.path.exists(final):
            tmp = f"{folder}/.{name}.{os.getpid()}.{threading.get_ident()}.tmp"
            with open(tmp, "wb") as handle:
                handle.write(raw)
            os.replace(tmp, final)
        with self._lock:
            self._unsynced.append(final)

    def read(self, relpath: str) -> bytes:
        return (self.root.parent / relpath).read_bytes()

    def forget(self) -> None:
        """Drop the files named since the last :meth:`sync` without syncing them.

        For a worker that does not sync its kept files (``[worker]
        sync_kept_files = false``): their names would otherwise pile up here,
        half a kilobyte a message, for as long as the process runs.
        """
        with self._lock:
            self._unsynced, self._linked = [], []

    def pending(self) -> int:
        """How many files wait for the next :meth:`sync`."""
        with self._lock:
            return len(self._unsynced) + len(self._linked)

    def sync(self) -> None:
        """Make every file kept since the last call durable: fsync the files, then their directories."""
        with self._lock:
            files, self._unsynced = self._unsynced, []
            linked, self._linked = self._linked, []
        if not files and not linked:
            return
        folders = {os.path.dirname(path) for path in files + linked} | {self._root}
        with ThreadPoolExecutor(max(1, min(SYNC_THREADS, len(files) + len(folders)))) as pool:
            list(pool.map(_fsync, files))
            list(pool.map(_fsync, folders))


def _link(source: str, target: str) -> bool:
    """Hard-link ``source`` as ``target``; False when it cannot be (gone, another file system...)."""
    try:
        os.link(source, target)
    except OSError:  # FileExistsError too: kept already (maybe not synced yet): treated as a copy found there
        return False
    return True


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
