"""Low-level Maildir operations shared by the Maildir source and the SMTP receiver.

Kept apart from the source so that delivery (the receiver, an MDA's job) and
consumption (the source) agree on one definition of a Maildir: ``tmp/``,
``new/``, ``cur/``; unique names; ``:2,FLAGS`` info suffixes; atomic renames
within one file system.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import socket
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

#: Separates a Maildir unique name from its info (flags) part.
INFO_SEP = ":2,"
_counter = itertools.count()


def ensure_maildir(root: Path, subfolder: bool = False) -> Path:
    """Create ``tmp/``, ``new/`` and ``cur/`` under ``root`` if missing.

    ``subfolder`` also drops the ``maildirfolder`` marker that Maildir++ (and
    Dovecot) expect in a ``.Folder`` sub-Maildir.
    """
    for sub in ("tmp", "new", "cur"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    if subfolder:
        (root / "maildirfolder").touch(exist_ok=True)
    return root


def key_of(filename: str) -> str:
    """The stable key of a Maildir file: its unique name without the info part."""
    return filename.split(INFO_SEP, 1)[0]


def unique_name() -> str:
    """A Maildir unique name: ``<seconds>.M<usec>P<pid>Q<n>.<host>``.

    The host part has ``/`` and ``:`` escaped as the Maildir convention asks,
    so the name never contains the info separator.
    """
    now = time.time()
    host = socket.gethostname().replace("/", r"\057").replace(":", r"\072")
    return f"{int(now)}.M{int(now * 1e6) % 1_000_000:06d}P{os.getpid()}Q{next(_counter)}.{host}"


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_whole(path: str) -> bytes:
    """The file's bytes: four system calls (open, fstat, read, close) instead of ``open().read()``'s nine.

    Why: the worker reads every message once, and in a VM each system call
    is a microsecond or two (``io.open`` also asks whether the file is a
    terminal and seeks twice). Reading exactly the size ``fstat`` gave
    (of ``size + 1`` asked) has reached the end; otherwise (the file changed,
    or a read of over 2 GiB, which Linux cuts short) it reads on to the end.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        size = os.fstat(fd).st_size
        data = os.read(fd, size + 1)
        if len(data) == size:
            return data
        parts = [data]
        while more := os.read(fd, 1 << 20):
            parts.append(more)
        return b"".join(parts)
    finally:
        os.close(fd)


def deliver(root: Path, data: bytes, name: str | None = None) -> Path:
    """Write ``data`` into ``root/new/`` durably, the way an MDA must.

    tmp/ → write → fsync the file → rename into new/ → fsync new/. Once this
    returns, the message survives a crash or power loss, so a receiver may
    answer 250 only after it.
    """
    name = name or unique_name()
    tmp = root / "tmp" / name
    final = root / "new" / name
    with open(tmp, "xb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.rename(tmp, final)
    fsync_dir(root / "new")
    return final


#: A file left in tmp/ longer than this is a delivery that died half-way (the Maildir rule: 36 hours).
STALE_TMP_SECONDS = 36 * 3600


def sweep_tmp(root: Path, older_than: float = STALE_TMP_SECONDS) -> int:
    """Remove files in ``root/tmp`` older than ``older_than`` seconds; how many.

    A receiver killed between writing tmp/ and the rename into new/ never
    answered 250, so the sender still has the message and sends it again; the
    half-delivered file is only litter.
    """
    removed = 0
    limit = time.time() - older_than
    with os.scandir(root / "tmp") as entries:
        for entry in entries:
            try:
                if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < limit:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                continue
    return removed


def move_into(src: Path | str, dest_root: Path | str, filename: str, sync: bool = False) -> str:
    """Move ``src`` into ``dest_root/cur/filename``, never altering its bytes.

    A rename on one file system (atomic). Across file systems (``EXDEV``) the
    bytes are copied to ``dest_root/tmp``, fsynced and renamed into place before
    the source is unlinked, so the message exists in at least one place at any
    instant.
    """
    dest = f"{dest_root}/cur/{filename}"  # a string: a worker moves one file per message
    try:
        os.rename(src, dest)
    except OSError as exc:
        if exc.errno != 18:  # EXDEV
            raise
        tmp = f"{dest_root}/tmp/{filename}"
        shutil.copyfile(src, tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.rename(tmp, dest)
        fsync_dir(Path(dest_root) / "cur")
        os.unlink(src)
        return dest
    if sync:
        fsync_dir(Path(dest_root) / "cur")
    return dest


def write_json_atomic(path: Path, record: dict[str, Any]) -> None:
    """Write a small JSON record so that readers never see half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=1, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def write_quarantine_reason(
    quarantine_dir: Path, stem: str, *, source: str, key: str, reason: str, data: bytes, file: str
) -> None:
    """Record why a message was quarantined, beside it: ``reasons/<stem>.reason.json``."""
    record = {
        "source": source,
        "key": key,
        "reason": reason,
        "quarantined_at": datetime.now(timezone.utc).isoformat(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "file": file,
    }
    write_json_atomic(quarantine_dir / "reasons" / f"{stem}.reason.json", record)


def count_entries(folder: Path) -> int:
    """Messages in one Maildir sub-directory, counted without keeping the names."""
    try:
        with os.scandir(folder) as entries:
            return sum(1 for entry in entries if not entry.name.startswith("."))
    except FileNotFoundError:
        return 0
