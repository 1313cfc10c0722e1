"""A CPU-time limit on each message's classification, so one hostile message cannot hold a worker.

The standard library has quadratic corners (parameter lists, address lists)
and a message may find one nobody has bounded yet. The worker classifies a
batch inside one :class:`CpuBudget` and each message under
:meth:`CpuBudget.message`: a profiling timer (``ITIMER_PROF``, CPU time of
this process, so a busy machine does not count against the message) ticks
:data:`TICKS` times per budget, and the tick that uses up a message's share
raises :class:`TooMuchCpu` in the classifying code; the worker quarantines
the message with that reason and goes on with the next.

Why one timer for the batch: a timer set and cleared around each message
cost two system calls a message, run between two classifications, where
the kernel's code found the caches full of the classifier's (about 3 µs a
message). The price is precision: a message's first tick may come at once,
so a message is stopped after between (TICKS - 1) / TICKS and all of its
seconds, never later.

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
from types import TracebackType

#: Timer ticks in one message's budget: a message is stopped within its last tenth.
TICKS = 10


class TooMuchCpu(Exception):
    """The message's classification used up its CPU seconds."""


class CpuBudget:
    """``seconds`` of CPU for each message classified inside it (0: no limit)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.enabled = (seconds > 0 and hasattr(signal, "setitimer")
                        and threading.current_thread() is threading.main_thread())
        #: Ticks the current message has seen; None between messages (ticks then count for nobody).
        self.ticks: int | None = None

    def __enter__(self) -> CpuBudget:
        if self.enabled:
            if signal.getsignal(signal.SIGPROF) is not _tick:
                signal.signal(signal.SIGPROF, _tick)
            _running[0] = self
            step = self.seconds / TICKS
            signal.setitimer(signal.ITIMER_PROF, step, step)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.enabled:
            signal.setitimer(signal.ITIMER_PROF, 0)
            _running[0] = None

    def message(self) -> _Message:
        """``with budget.message():`` raises :class:`TooMuchCpu` inside the block once it has used the
        budget's seconds (a plain context manager: ``contextmanager``'s generator cost a microsecond)."""
        return _Message(self)


class _Message:
    __slots__ = ("budget",)

    def __init__(self, budget: CpuBudget) -> None:
        self.budget = budget

    def __enter__(self) -> None:
        self.budget.ticks = 0

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.budget.ticks = None


#: The budget whose timer runs (one at a time: the timer is the process's).
_running: list[CpuBudget | None] = [None]


def _tick(signum: int, frame: object) -> None:
    budget = _running[0]
    if budget is None or budget.ticks is None:
        return
    budget.ticks += 1
    if budget.ticks >= TICKS:
        budget.ticks = None
        raise TooMuchCpu()
