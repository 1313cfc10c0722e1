"""Members per list and state, exact on small databases and at most a minute old on big ones.

Counting a list's members by state joins every membership with its
subscriber: milliseconds for a few thousand, about a second for a million
on SQLite. So, as listmonk does with its materialized views, a count that
took long is kept for :data:`MAX_AGE` seconds and then recomputed in a
background thread while pages keep showing the last one (with its time).
A count that was quick is never kept: small lists always read exact. An
import through the console forgets the kept count at once.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mailer.subscribers import member_counts as count_members
from responsemaster.store.base import utcnow

#: A count that took longer than this (seconds) is kept and reused.
SLOW = 0.15
#: How long a kept count is shown before a fresh one is started.
MAX_AGE = 60.0


@dataclass
class Counted:
    by_list: dict[int, dict[str, int]]
    #: When the counts were read; None when they were read for this page.
    at: datetime | None = None


@dataclass
class _Entry:
    counted: Counted
    monotonic: float
    refreshing: bool = False


@dataclass
class MemberCounts:
    """One kept count per database (keyed by its URL), refreshed by at most one thread at a time."""

    _kept: dict[str, _Entry] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, store: Any) -> Counted:
        key = str(store.engine.url)
        with self._lock:
            entry = self._kept.get(key)
            if entry is not None:
                if time.monotonic() - entry.monotonic > MAX_AGE and not entry.refreshing:
                    entry.refreshing = True
                    threading.Thread(target=self._refresh, args=(store, key), daemon=True).start()
                return entry.counted
        return self._count(store, key)

    def forget(self) -> None:
        with self._lock:
            self._kept.clear()

    def _count(self, store: Any, key: str) -> Counted:
        started = time.monotonic()
        with store.reader() as session:
            by_list = count_members(session)
        took = time.monotonic() - started
        if took < SLOW:
            with self._lock:
                self._kept.pop(key, None)
            return Counted(by_list)
        counted = Counted(by_list, utcnow())
        with self._lock:
            self._kept[key] = _Entry(counted, time.monotonic())
        return counted

    def _refresh(self, store: Any, key: str) -> None:
        try:
            self._count(store, key)
        finally:
            with self._lock:
                entry = self._kept.get(key)
                if entry is not None:
                    entry.refreshing = False


member_counts = MemberCounts()
