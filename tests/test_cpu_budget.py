"""The per-message CPU budget (responsemaster.cpu_deadline): one timer for a batch, each message its share."""

from __future__ import annotations

import signal
import time

import pytest

from responsemaster.cpu_deadline import TICKS, CpuBudget, TooMuchCpu


def _spin(seconds: float) -> None:
    """Use ``seconds`` of this process's CPU."""
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_a_message_is_stopped_within_the_last_tick_of_its_budget() -> None:
    budget_seconds = 0.3
    with CpuBudget(budget_seconds) as budget:
        start = time.process_time()
        with pytest.raises(TooMuchCpu), budget.message():
            _spin(5.0)
        used = time.process_time() - start
    assert budget_seconds * (TICKS - 1) / TICKS - 0.02 <= used <= budget_seconds + 0.1


def test_each_message_has_its_own_budget_and_the_time_between_messages_counts_for_none() -> None:
    """Five messages of 60% of the budget each, with as much work between them: none is stopped."""
    with CpuBudget(0.2) as budget:
        for _ in range(5):
            with budget.message():
                _spin(0.12)
            _spin(0.3)  # the worker's own work between two classifications


def test_the_timer_is_off_after_the_batch_and_a_zero_budget_sets_none() -> None:
    with CpuBudget(0.5):
        assert signal.getitimer(signal.ITIMER_PROF)[0] > 0
    assert signal.getitimer(signal.ITIMER_PROF) == (0.0, 0.0)
    with CpuBudget(0) as unlimited, unlimited.message():
        assert signal.getitimer(signal.ITIMER_PROF) == (0.0, 0.0)
        _spin(0.05)
