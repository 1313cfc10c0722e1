"""Kept raw bytes: content-addressed files under ``var/messages/<sha[:2]>/<sha>.eml``.

Write-once and idempotent: the same bytes land on the same path, so a replay
after a crash rewrites nothing and two workers keeping the same message agree.
Files are written to a temporary name and renamed, so a reader never sees half
a message; :meth:`RawFiles.sync` makes a whole batch durable with one
``syncfs`` (one flush per batch instead of one fsync per message).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import os
from pathlib import Path

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


class RawFiles:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def relpath(self, sha256: str) -> str:
        """Path relative to the var dir, as stored in ``raw_messages.path``."""
        return f"messages/{sha256[:2]}/{sha256}.eml"

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / f"{sha256}.eml"

    def keep(self, raw: bytes, sha256: str | None = None) -> str:
        """Store ``raw`` (once) and return its relative path."""
        sha256 = sha256 or hashlib.sha256(raw).hexdigest()
        final = self.path(sha256)
        if not final.exists():
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
            with open(tmp, "wb") as handle:
                handle.write(raw)
            os.replace(tmp, final)
        return self.relpath(sha256)

    def read(self, relpath: str) -> bytes:
        return (self.root.parent / relpath).read_bytes()

    def sync(self) -> None:
        """Flush every kept file of the batch to disk (Linux ``syncfs``; fsync of the root elsewhere)."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            syncfs = getattr(_libc, "syncfs", None)
            if syncfs is None or syncfs(fd) != 0:
                os.fsync(fd)
        finally:
            os.close(fd)
