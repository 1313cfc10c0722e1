"""Every process a command starts dies with it, however the command died.

A parent killed with SIGKILL (the OOM killer, ``kill -9``, a power-cut
supervisor) runs no clean-up, so its children must notice on their own, as
Postfix's do when their master goes. Two mechanisms, both always on:

- Linux: ``prctl(PR_SET_PDEATHSIG)``, the kernel signals the child the moment
  its parent exits (strictly: the parent *thread* that forked it; every
  caller here forks from a main thread).
- Everywhere: a daemon thread polling ``getppid()`` every half second. A
  parent's death reparents the child, so the number changes. It also covers
  the race where the parent died between the fork and the ``prctl``.

Forked children (``run``'s sidecar, Huey's process workers and scheduler) get
SIGKILL: they hold no state worth a clean-up (exactly-once does not depend on
it) and must let go of the receiver's port and the state lock at once.
Executed children (``serve`` under ``run``, ``train`` under ``serve``, uvicorn's
workers) get SIGTERM, so a web server closes its sockets, and are ended with
``os._exit`` if they are still there ``grace`` seconds later.

An executed child learns who its parent is from ``RESPONSEMASTER_DIE_WITH``
(set by :func:`child_env`); a command started by a person has no such
variable and outlives its shell as it always did.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

ENV = "RESPONSEMASTER_DIE_WITH"
PR_SET_PDEATHSIG = 1
POLL_SECONDS = 0.5

_installed = False
_forking_pid = [0]


def die_with_parent(parent_pid: int, signum: int = signal.SIGKILL, grace: float = 3.0) -> None:
    """End this process with ``signum`` when ``parent_pid`` stops being its parent.

    With a catchable ``signum`` the process has ``grace`` seconds to stop by
    itself before it is ended with ``os._exit``.
    """
    _set_pdeathsig(signum)
    if os.getppid() != parent_pid:  # already gone (between the fork and here)
        _end(signum, grace)
        return
    watcher = threading.Thread(target=_watch, args=(parent_pid, signum, grace), name="rm-lifeline", daemon=True)
    watcher.start()


def tie_forked_children() -> None:
    """From now on, every child this process forks dies with it (SIGKILL). Idempotent.

    Installed by ``run`` and ``mailer worker`` before anything forks: it
    reaches children forked by libraries (Huey's workers, re-forked after a
    crash, its scheduler) without their cooperation.
    """
    global _installed
    if _installed or not hasattr(os, "register_at_fork"):
        return
    _installed = True
    _prctl()
    os.register_at_fork(before=_note_forking_pid, after_in_child=_after_fork_in_child)


def child_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child command that must die with this process."""
    result = dict(os.environ if env is None else env)
    result[ENV] = str(os.getpid())
    return result


def honour_env() -> None:
    """Called at the start of every command: tie to the parent named by :data:`ENV`, if any.

    The variable is removed so this command's own children do not read it
    as theirs (they get a fresh one from :func:`child_env`).
    """
    value = os.environ.pop(ENV, "")
    if value.isdigit():
        die_with_parent(int(value), signal.SIGTERM)


def tie_to_multiprocessing_parent() -> None:
    """In a ``multiprocessing`` child that was *spawned* (uvicorn's workers): die with the spawner."""
    import multiprocessing

    parent = multiprocessing.parent_process()
    if parent is not None and parent.pid is not None:
        die_with_parent(parent.pid, signal.SIGTERM)


def _note_forking_pid() -> None:
    _forking_pid[0] = os.getpid()


def _after_fork_in_child() -> None:
    parent = _forking_pid[0]
    _set_pdeathsig(signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=_watch, args=(parent, signal.SIGKILL, 0.0), name="rm-lifeline", daemon=True).start()


def _watch(parent_pid: int, signum: int, grace: float) -> None:
    while os.getppid() == parent_pid:
        time.sleep(POLL_SECONDS)
    _end(signum, grace)


def _end(signum: int, grace: float) -> None:
    if signum == signal.SIGKILL:
        os._exit(1)
    try:
        os.kill(os.getpid(), signum)
    finally:
        time.sleep(grace)
        os._exit(1)


def _set_pdeathsig(signum: int) -> None:
    prctl = _prctl()
    if prctl is not None:
        prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0)


_libc: list[object] = []


def _prctl():  # type: ignore[no-untyped-def]
    """libc's ``prctl`` (looked up once, in the parent: no library search inside a fork hook); None off Linux."""
    if not _libc:
        prctl = None
        if sys.platform.startswith("linux"):
            try:
                prctl = ctypes.CDLL(None, use_errno=True).prctl  # the process's own symbols include libc's
            except (OSError, AttributeError):  # a libc without prctl: the watcher thread remains
                prctl = None
        _libc.append(prctl)
    return _libc[0]
