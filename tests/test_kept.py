"""api/kept.py: slow aggregates are kept, for a time that grows with their cost, and never shown when too old."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from api import kept as kept_module
from api.kept import KEEP_FOR, MAX_AGE, SLOW, Kept

STORE = SimpleNamespace(engine=SimpleNamespace(url="sqlite:///kept-test.db"))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(kept_module.time, "monotonic", fake)
    return fake


def _counter(clock: Clock, took: float) -> Any:
    """A compute that answers 1, 2, 3... and lets ``took`` seconds pass on the clock."""
    calls = {"n": 0}

    def compute() -> int:
        calls["n"] += 1
        clock.now += took
        return calls["n"]

    return compute, calls


def test_a_quick_result_is_never_kept(clock: Clock) -> None:
    store = Kept()
    compute, calls = _counter(clock, SLOW / 2)
    assert [store.get(STORE, "k", compute).value for _ in range(3)] == [1, 2, 3]
    assert store.get(STORE, "k", compute).at is None


def test_a_cheap_slow_result_is_kept_seconds_and_a_dear_one_a_minute(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[Any] = []
    monkeypatch.setattr(kept_module.threading, "Thread", lambda target, args, daemon: SimpleNamespace(
        start=lambda: started.append((target, args))))
    store = Kept()
    cheap, cheap_calls = _counter(clock, 0.1)  # kept for KEEP_FOR x 0.1 = 10 s
    assert store.get(STORE, "cheap", cheap).value == 1
    clock.now += 0.05 * KEEP_FOR
    assert store.get(STORE, "cheap", cheap).value == 1 and not started  # fresh enough: kept
    clock.now += 0.1 * KEEP_FOR  # past its age: shown once more while a refresh starts
    assert store.get(STORE, "cheap", cheap).value == 1 and len(started) == 1
    clock.now += 0.1 * KEEP_FOR * 2  # nobody asked for twice its age: not shown, computed now
    assert store.get(STORE, "cheap", cheap).value == 2 and cheap_calls["n"] == 2

    dear, _ = _counter(clock, 10.0)  # KEEP_FOR x 10 s is over the cap: a minute
    assert store.get(STORE, "dear", dear).value == 1
    clock.now += MAX_AGE - 1
    assert store.get(STORE, "dear", dear).value == 1 and len(started) == 1


def test_the_threshold_is_a_setting(clock: Clock) -> None:
    """``[api] keep_results_slower_than``: what a busy small database (or a test) needs to read exact."""
    from api.config import ApiSettings
    from responsemaster.config import Settings

    settings = Settings()
    settings.sections = {"api": {"keep_results_slower_than": 2.5}}
    assert ApiSettings.from_settings(settings).keep_results_slower_than == 2.5
    compute, _calls = _counter(clock, SLOW * 10)
    assert [Kept(slow=1e9).get(STORE, "k", compute).at for _ in range(2)] == [None, None]
    kept = Kept()
    assert kept.get(STORE, "k", compute).at is not None and kept.get(STORE, "k", compute).value == 3  # kept
