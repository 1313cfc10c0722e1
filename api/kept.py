"""Aggregates that are exact on small databases and at most a minute old on big ones.

Some numbers are sums over everything in a range: a list's members by state
(every membership joined with its subscriber), the sends of 30 days, the
domains with most failures. Milliseconds on thousands of rows, most of a
second on millions. So, as listmonk does with its materialized views, a
result that took longer than :data:`SLOW` is kept, shown with the time it was
computed, and recomputed in a background thread once it is old while pages
keep showing the last one. "Old" grows with the cost: :data:`KEEP_FOR`
times what the result took, at most :data:`MAX_AGE` seconds, so a cheap
number (today's sends, 0.05 s) is seconds old at most and only the dear
ones (90 days of sends on millions of rows) wait up to a minute. A result twice as
old as that (nobody asked meanwhile) is not shown: it is computed again. A
result that came quickly is never kept: small databases always read exact. A change made
through the console that moves a kept number (an import) forgets it at once.

One store per process (``serve --workers N``: one per worker); keyed by the
database URL and what was asked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from responsemaster.store.base import utcnow

#: A result that took longer than this (seconds) is kept and reused. Low enough that a page built from
#: several such results (the dashboard: today's figures, then the range's) does not pay each one every
#: time under load; a small database answers in a few milliseconds and always reads exact.
SLOW = 0.05
#: How old a kept result may get before a fresh one is started: this many times what it took (so
#: refreshing a number that people keep asking for costs at most 1% of a core)...
KEEP_FOR = 100.0
#: ...and at most this many seconds.
MAX_AGE = 60.0
#: At most this many kept results (the oldest go first).
MAX_KEPT = 256

T = TypeVar("T")


@dataclass
class Result(Generic[T]):
    value: T
    #: When it was computed, for a kept result; None when computed for this page.
    at: datetime | None = None


@dataclass
class _Entry:
    result: Result[Any]
    monotonic: float
    #: Seconds it may be shown before a fresh one is started (twice that: not shown at all).
    max_age: float
    refreshing: bool = False


@dataclass
class Kept:
    """Results kept per (database, key), each refreshed by at most one thread at a time."""

    #: Results slower than this are kept (``[api] keep_results_slower_than``, set by the app).
    slow: float = SLOW
    _kept: dict[tuple[str, Hashable], _Entry] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    #: Questions being answered for the first time (waiters get that answer instead of asking too).
    _running: dict[tuple[str, Hashable], threading.Event] = field(default_factory=dict)

    def get(self, store: Any, key: Hashable, compute: Callable[[], T]) -> Result[T]:
        full = (str(store.engine.url), key)
        with self._lock:
            entry = self._kept.get(full)
            age = time.monotonic() - entry.monotonic if entry is not None else 0.0
            if entry is not None and age > 2 * entry.max_age:  # too old to show: asked again below
                del self._kept[full]
                entry = None
            if entry is not None:
                if age > entry.max_age and not entry.refreshing:
                    entry.refreshing = True
                    threading.Thread(target=self._refresh, args=(full, compute), daemon=True).start()
                return entry.result
            running = self._running.get(full)
            if running is None:
                self._running[full] = threading.Event()
        if running is not None:  # the same question is being answered: wait for that answer, don't ask again
            running.wait(timeout=120)
            with self._lock:
                entry = self._kept.get(full)
            if entry is not None:
                return entry.result
            return self.get(store, key, compute)
        try:
            return self._compute(full, compute)
        finally:
            with self._lock:
                self._running.pop(full).set()

    def forget(self) -> None:
        with self._lock:
            self._kept.clear()

    def _compute(self, full: tuple[str, Hashable], compute: Callable[[], T]) -> Result[T]:
        started = time.monotonic()
        value = compute()
        took = time.monotonic() - started
        if took < self.slow:
            with self._lock:
                self._kept.pop(full, None)
            return Result(value)
        result = Result(value, utcnow())
        with self._lock:
            if len(self._kept) >= MAX_KEPT:
                self._kept.pop(min(self._kept, key=lambda k: self._kept[k].monotonic))
            self._kept[full] = _Entry(result, time.monotonic(), min(MAX_AGE, KEEP_FOR * took))
        return result

    def _refresh(self, full: tuple[str, Hashable], compute: Callable[[], T]) -> None:
        try:
            self._compute(full, compute)
        finally:
            with self._lock:
                entry = self._kept.get(full)
                if entry is not None:
                    entry.refreshing = False


kept = Kept()


def member_counts(store: Any) -> Result[dict[int, dict[str, int]]]:
    """Per list id: members by state (:func:`mailer.subscribers.member_counts`), kept when slow."""
    from mailer.subscribers import member_counts as count

    def compute() -> dict[int, dict[str, int]]:
        with store.reader() as session:
            return count(session)

    return kept.get(store, "member_counts", compute)
