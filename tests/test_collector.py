"""The worker's collector settings (responsemaster.collector): young collections far apart, none while a batch is recorded."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest
from fixtures.store_backends import db_url, store  # noqa: F401 - fixtures

from responsemaster.collector import YOUNG_THRESHOLD, paused, suit_batches


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


def test_paused_turns_collection_off_in_the_block_and_back_on_after_it_even_on_an_error() -> None:
    assert gc.isenabled()
    with paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(KeyError), paused():
        raise KeyError("a batch failed")
    assert gc.isenabled()


def test_paused_leaves_a_collector_someone_else_turned_off_turned_off() -> None:
    gc.disable()
    try:
        with paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_paused_does_nothing_outside_the_main_thread() -> None:
    seen: list[bool] = []

    def record() -> None:
        with paused():
            seen.append(gc.isenabled())

    thread = threading.Thread(target=record)
    thread.start()
    thread.join()
    assert seen == [True]


def test_a_batch_is_recorded_with_collection_paused(  # type: ignore[no-untyped-def]
    store, classifier, corpus_files, tmp_path, monkeypatch  # noqa: F811
) -> None:
    """The worker's bulk recording runs with the collector off, and turns it back on after the commit."""
    from fixtures.worker_setup import fill_maildir
    from responsemaster import worker_recording
    from responsemaster.config import Settings
    from responsemaster.ingest.maildir_source import MaildirSource
    from responsemaster.routing import Router, load_routing
    from responsemaster.worker import WorkerOptions, process_batch

    states: list[bool] = []
    write = worker_recording._write_in_bulk

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        states.append(gc.isenabled())
        return write(*args, **kwargs)

    monkeypatch.setattr(worker_recording, "_write_in_bulk", spy)
    fill_maildir(tmp_path / "box", corpus_files, 3)
    router = Router(load_routing(Settings(base_dir=store.var.parent)), store.var)
    result = process_batch(MaildirSource("returns", tmp_path / "box"), classifier, store, router,
                           options=WorkerOptions(batch_size=10))
    assert result.processed == 3
    assert states == [False]
    assert gc.isenabled()
