"""The worker's collector setting (responsemaster.collector): young collections far apart, set once per process."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from responsemaster.collector import YOUNG_THRESHOLD, suit_batches


@pytest.fixture
def thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    try:
        yield
    finally:
        gc.set_threshold(*saved)


def test_suit_batches_raises_the_young_threshold_and_keeps_the_older_ratios(thresholds: None) -> None:
    gc.set_threshold(700, 10, 10)
    suit_batches()
    assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)


def test_suit_batches_leaves_a_higher_threshold_alone(thresholds: None) -> None:
    gc.set_threshold(YOUNG_THRESHOLD * 5, 3, 4)
    suit_batches()
    assert gc.get_threshold() == (YOUNG_THRESHOLD * 5, 3, 4)


def test_a_worker_runtime_sets_it(thresholds: None, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from responsemaster.config import load_settings
    from responsemaster.worker_runtime import Runtime

    gc.set_threshold(700, 10, 10)
    config = tmp_path / "rm.toml"
    config.write_text(f'var_dir = "{tmp_path / "var"}"\n[database]\nurl = "sqlite:///{tmp_path / "rm.db"}"\n'
                      '[classify]\nuse_model = false\n')
    runtime = Runtime.build(load_settings(config))
    try:
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    finally:
        runtime.close()
