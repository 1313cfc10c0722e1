"""How a batch is gathered: up to ``batch_size`` messages in steps, fewer once they hold ``batch_megabytes``.

A real Maildir each time. The byte budget is what keeps a worker's memory
bounded on a box of large messages (bounces that carry their attachments
back); the steps are how a batch of thousands is gathered from a source
asked for a few hundred at a time.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures.store_backends import db_url, store  # noqa: F401 - fixtures
from fixtures.worker_setup import deliver_to_maildir, maildir_counts

from responsemaster import worker
from responsemaster.config import Settings
from responsemaster.ingest.maildir_source import MaildirSource
from responsemaster.routing import OutboxDeliverer, Router, load_routing
from responsemaster.store import Store
from responsemaster.verdict import Verdict
from responsemaster.worker import WorkerOptions, drain, gather

KIB = 1024


def _message(number: int, size: int) -> bytes:
    head = f"From: someone@example.org\nSubject: message {number}\nMessage-ID: <{number}@example.org>\n\n".encode()
    return head + b"x" * (size - len(head) - 1) + b"\n"


class Replies:
    def classify(self, raw: bytes) -> Verdict:
        return Verdict("user_reply", 0.9, "test", "reply")


def _box(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, count: int, size: int, first: int,
         step: int = 500) -> MaildirSource:
    """A Maildir of ``count`` messages of ``size`` bytes, and batches gathered ``first``, then ``step``, at a time."""
    monkeypatch.setattr(worker, "FIRST_STEP", first)
    monkeypatch.setattr(worker, "FETCH_STEP", step)
    deliver_to_maildir(tmp_path / "box", [_message(n, size) for n in range(count)])
    return MaildirSource("returns", tmp_path / "box")


def test_a_batch_stops_growing_once_its_messages_hold_the_budget(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    source = _box(tmp_path, monkeypatch, 12, 300 * KIB, first=2, step=2)
    batch = gather(source, WorkerOptions(batch_size=100, batch_megabytes=1.0))
    # 2 + 2 messages of 300 KiB pass 1 MiB; the third step is never asked for.
    assert len(batch) == 4 and sum(len(m.raw) for m in batch) == 4 * 300 * KIB
    assert maildir_counts(tmp_path / "box")["inbox"] == 8  # the others were not even claimed


def test_the_step_after_large_messages_asks_only_for_what_the_budget_holds(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    source = _box(tmp_path, monkeypatch, 20, 200 * KIB, first=4, step=4)
    batch = gather(source, WorkerOptions(batch_size=100, batch_megabytes=1.0))
    # 4 x 200 KiB = 800 KiB, 224 KiB left: room for one more at that size, and one over, not four.
    assert len(batch) == 6


def test_small_messages_fill_the_batch_across_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = _box(tmp_path, monkeypatch, 25, 2 * KIB, first=3, step=3)
    options = WorkerOptions(batch_size=10)
    assert [len(gather(source, options)) for _ in range(4)] == [10, 10, 5, 0]


def test_the_worker_drains_a_box_of_large_messages_in_short_batches(store: Store, tmp_path: Path,  # noqa: F811
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    source = _box(tmp_path, monkeypatch, 10, 300 * KIB, first=2, step=2)
    router = Router(load_routing(Settings(base_dir=store.var.parent)), store.var)
    options = WorkerOptions(batch_size=100, batch_megabytes=1.0, lease_seconds=0)
    first = worker.process_batch(source, Replies(), store, router, options=options, owner="w1")
    assert (first.fetched, first.processed) == (4, 4)
    total = drain(source, Replies(), store, router, OutboxDeliverer(store, router.config, "w1"), options, "w1")
    assert total.processed == 6 and maildir_counts(tmp_path / "box") == {"inbox": 0, "claimed": 0, "processed": 10}


def test_the_first_step_is_small_before_the_sizes_are_known(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing is known of the messages' sizes before the first step: it asks for a few, not for FETCH_STEP."""
    source = _box(tmp_path, monkeypatch, 100, 200 * KIB, first=3)  # then steps of 500
    batch = gather(source, WorkerOptions(batch_size=1000, batch_megabytes=1.0))
    # 3 x 200 KiB, then as many as the 424 KiB left hold (and one over): 3 more, not the 97 left.
    assert len(batch) == 6


def test_the_budget_is_a_setting_and_must_be_positive(tmp_path: Path) -> None:
    from responsemaster.config import SettingError
    from responsemaster.worker_runtime import worker_options

    settings = Settings(base_dir=tmp_path, sections={"worker": {"batch_megabytes": 8}})
    assert worker_options(settings).batch_megabytes == 8.0
    with pytest.raises(SettingError, match=r"\[worker\] batch_megabytes"):
        worker_options(Settings(base_dir=tmp_path, sections={"worker": {"batch_megabytes": 0}}))
