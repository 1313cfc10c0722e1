"""A CPU-time limit on one message's classification, so one hostile message cannot hold a worker.

The standard library has quadratic corners (parameter lists, address lists)
and a message may find one nobody has bounded yet. The worker classifies
each message under :func:`cpu_deadline`: a profiling timer (``ITIMER_PROF``,
CPU time of this process, so a busy machine does not count against the
message) raises :class:`TooMuchCpu` in the classifying code when it runs
out, the worker quarantines the message with that reason and goes on with
the next. Cost: two ``setitimer`` calls, about 1.5 µs a message.

Limits, stated plainly: the exception is raised between Python bytecodes, so
a single C call that never returns (a backtracking regular expression in
``re``; the rules use RE2, which cannot backtrack) is not interrupted; it is
caught by the claim's attempt count instead (a message that keeps killing or
stalling its worker is quarantined after ``max_attempts``). Signals reach
the main thread only: in a thread (Huey's ``thread`` workers) there is no
deadline. A classifier interrupted half-way may leave a cache half-filled;
nothing it keeps is shared with the store.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class TooMuchCpu(Exception):
    """The message's classification used up its CPU seconds."""


_armed = [False]
_installed = [False]


@contextmanager
def cpu_deadline(seconds: float) -> Iterator[None]:
    """Raise :class:`TooMuchCpu` inside the block once it has used ``seconds`` of CPU (0: no limit)."""
    if seconds <= 0 or not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return
    if not _installed[0]:
        signal.signal(signal.SIGPROF, _expired)
        _installed[0] = True
    _armed[0] = True
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        _armed[0] = False
        signal.setitimer(signal.ITIMER_PROF, 0)


def _expired(signum: int, frame: object) -> None:
    if _armed[0]:
        _armed[0] = False
        raise TooMuchCpu()
