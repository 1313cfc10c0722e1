"""``run --once`` on every core: N worker processes draining the same sources, then exit.

Why processes: classification is Python and holds the GIL, so one process
uses one core. The workers need nothing from each other: each builds its
own runtime (store, classifier, router) and its own source instances, and
the sources' claims (a Maildir rename, an IMAP conditional STORE), the
database lease and UNIQUE(source, key) keep every message processed once,
exactly as for several ``run`` processes or Huey consumers.

A worker that dies (killed, out of memory, a crash in a C library) gives
its claims back at once: the parent returns the Maildir files it had
claimed to the inbox and ends its database leases, then starts another
worker in its place while there is work left (at most ``3 x N`` times, so
a message that kills every worker that touches it cannot loop: the attempt
count quarantines it first). IMAP claims come back when their lease runs
out (see docs/sources.md). Each worker dies with the parent, so a parent
killed with SIGKILL leaves no worker behind.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any

from responsemaster import lifeline
from responsemaster.cpus import usable_cpus
from responsemaster.config import Settings
from responsemaster.worker import BatchResult, merge_results

logger = logging.getLogger("responsemaster.worker")

#: Replacement workers per original one before ``run --once`` gives up on its dead workers.
RESTARTS_PER_WORKER = 3


def default_workers() -> int:
    """One per CPU this process may run on."""
    return usable_cpus()


def drain_once(
    settings: Settings,
    workers: int,
    on_batch: Callable[[BatchResult], None] | None = None,
    settle_seconds: float = 10.0,
    say: Callable[[str], None] = print,
) -> dict[str, BatchResult]:
    """Drain every source with ``workers`` processes (in this one when 1); the totals per source."""
    if workers <= 1:
        return _drain_here(settings, on_batch, settle_seconds)
    import multiprocessing

    _check(settings)
    context = multiprocessing.get_context("fork")
    totals: dict[str, BatchResult] = {}
    running: dict[Any, tuple[Any, Connection]] = {}
    restarts = RESTARTS_PER_WORKER * workers
    died = False

    def start() -> None:
        receive, send = context.Pipe(duplex=False)
        process = context.Process(target=_worker, args=(settings, on_batch, settle_seconds, send, os.getpid()),
                                  name="responsemaster-worker", daemon=True)
        process.start()
        send.close()
        running[process.sentinel] = (process, receive)

    for _ in range(workers):
        start()
    while running:
        for sentinel in wait(list(running)):
            process, receive = running.pop(sentinel)
            process.join()
            result = _received(receive)
            if result is not None:
                for name, total in result.items():
                    merge_results(totals.setdefault(name, BatchResult(name)), total)
                continue
            say(f"worker {process.pid} died ({_how(process.exitcode)}): its messages go back to the others")
            give_back_claims(settings, process.pid)
            if _work_left(settings):
                if restarts == 0:
                    died = True
                    continue
                restarts -= 1
                start()
    if died and _work_left(settings):
        raise WorkersDied(f"{RESTARTS_PER_WORKER * workers} replacement workers died too; "
                          "messages are left in the source")
    return totals


class WorkersDied(RuntimeError):
    """Every replacement worker died while messages were left (``run --once`` exits with an error)."""


def _check(settings: Settings) -> None:
    """What each worker builds at start, built once here first: a wrong setting is one error in
    ``run``, not one traceback per worker; and the schema is migrated before anything forks."""
    from responsemaster.worker_runtime import Runtime, build_sources

    Runtime.build(settings).close()  # closes the store: no connection is held over the fork
    for source in build_sources(settings):
        source.close()


def _received(receive: Connection) -> dict[str, BatchResult] | None:
    """The totals a worker sent before it exited; None when it died before sending them."""
    try:
        return receive.recv() if receive.poll() else None
    except EOFError:
        return None
    finally:
        receive.close()


def _drain_here(
    settings: Settings, on_batch: Callable[[BatchResult], None] | None, settle_seconds: float
) -> dict[str, BatchResult]:
    from responsemaster.worker_runtime import Runtime, build_sources

    runtime = Runtime.build(settings)
    sources = build_sources(settings)
    try:
        return runtime.drain_all_once(sources, on_batch=on_batch, settle_seconds=settle_seconds)
    finally:
        for source in sources:
            source.close()
        runtime.close()


def _worker(settings: Settings, on_batch: Callable[[BatchResult], None] | None, settle_seconds: float,
            send: Connection, parent: int) -> None:
    """One worker process: drain until nothing is left, send the totals, exit."""
    lifeline.die_with_parent(parent)  # the kernel (PR_SET_PDEATHSIG) or a watcher ends it when run dies
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides
    totals = _drain_here(settings, on_batch, settle_seconds)
    send.send(totals)
    send.close()
    sys.stdout.flush()


def give_back_claims(settings: Settings, pid: int) -> None:
    """Return what the worker process ``pid`` (of this host) held: Maildir claims, database leases."""
    from responsemaster.store import claims, open_store
    from responsemaster.worker_runtime import build_sources

    host = socket.gethostname()
    sources = build_sources(settings)
    try:
        for source in sources:
            give_back = getattr(source, "give_back", None)
            if give_back is not None:
                give_back(f"{re.sub(r'[^A-Za-z0-9.-]', '-', host)}.{pid}.")
    finally:
        for source in sources:
            source.close()
    store = open_store(settings, migrate=False)
    try:
        with store.transaction() as session:
            claims.end_leases_of(session, f"{host}.{pid}.")
    finally:
        store.close()


def _work_left(settings: Settings) -> bool:
    from responsemaster.worker_runtime import build_sources

    sources = build_sources(settings)
    try:
        return sum(source.pending() for source in sources) > 0
    finally:
        for source in sources:
            source.close()


def _how(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"signal {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"signal {-exitcode}"
    return f"exit {exitcode}"
