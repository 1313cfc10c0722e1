"""One ``run`` per state folder: an ``flock`` on ``<var>/run.lock`` that the kernel drops with its holders.

The lock is taken on an open file description, which forked children share:
it is held while any process of the run lives (its sidecar, its Huey
workers), so a second ``run`` cannot start beside the remains of a first one
and fight it for the receiver's port. The file holds the main process's pid,
for the message. A dead pid with the lock still held means that run's
children are still going down (they die with their parent, see
:mod:`responsemaster.lifeline`): a new ``run`` waits a few seconds for them.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

LOCK_NAME = "run.lock"


class AlreadyRunning(Exception):
    """Another ``run`` holds the state folder."""

    def __init__(self, pid: int | None, path: Path) -> None:
        self.pid = pid
        self.path = path
        who = f"pid {pid}" if pid else "pid unknown"
        super().__init__(f"already running ({who}) on the state folder {path.parent}")


def hold(var: Path, wait_for_leftovers: float = 10.0) -> int:
    """Take the lock (creating ``var``); returns the descriptor, to keep open for the life of the run.

    Raises :class:`AlreadyRunning`, or ``OSError`` when the folder cannot be created or written.
    """
    var.mkdir(parents=True, exist_ok=True)
    path = var / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_for_leftovers
        while not _try_lock(fd):
            pid = _recorded_pid(path)
            if (pid is not None and _alive(pid)) or time.monotonic() > deadline:
                raise AlreadyRunning(pid, path)
            time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _recorded_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    try:  # a killed run its parent has not reaped yet is a zombie: gone
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
