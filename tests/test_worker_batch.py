"""Group commit: one transaction per batch, a savepoint per message, acks only after the commit.

Each test injects one fault into a real drain (Maildir source, real store on
SQLite and PostgreSQL) and checks that exactly the faulty message is
affected: rolled back alone, replayed, or left in the source with the rest.
"""

from __future__ import annotations

from pathlib import Path

from fixtures.store_backends import db_url, store  # noqa: F401 - fixtures
from fixtures.worker_setup import count_rows as _count
from fixtures.worker_setup import deliver_to_maildir, fill_maildir, maildir_counts
from sqlalchemy import select

from responsemaster.config import Settings
from responsemaster.ingest.maildir_source import MaildirSource
from responsemaster.ingest.source import RawMessage
from responsemaster.routing import OutboxDeliverer, Router, load_routing
from responsemaster.store import Store
from responsemaster.store.actions import ActionTaken
from responsemaster.store.messages import RawMessageRow
from responsemaster.store.recording import record_message
from responsemaster.store.subscribers import Subscriber, Suppression
from responsemaster.verdict import RecipientVerdict, Verdict
from responsemaster import worker
from responsemaster.worker import BatchResult, WorkerOptions, drain

ADDRESS = "x@example.org"


class SameBounce:
    """Every message is a hard bounce of one address: all of them touch the same subscriber row."""

    def classify(self, raw: bytes) -> Verdict:
        rcpt = RecipientVerdict(ADDRESS, "hard_bounce", "userunknown", "5.1.1", "550")
        return Verdict("hard_bounce", 0.99, "test", "userunknown", recipients=[rcpt])


class FailingRouter(Router):
    """Routes for real, then raises for one message: its rows exist until its savepoint is rolled back."""

    def __init__(self, router: Router, marker: bytes) -> None:
        super().__init__(router.config, router.var)
        self.marker = marker

    def route(self, session, message, verdict_row, verdict, raw, **kw):  # type: ignore[no-untyped-def,override]
        ctx = super().route(session, message, verdict_row, verdict, raw, **kw)
        if self.marker in raw:
            raise RuntimeError("routing bug")
        return ctx


def _router(store: Store) -> Router:  # noqa: F811
    return Router(load_routing(Settings(base_dir=store.var.parent)), store.var)


def _drain(store: Store, source: MaildirSource, classifier: object, router: Router | None = None) -> BatchResult:  # noqa: F811
    router = router or _router(store)
    deliverer = OutboxDeliverer(store, router.config, "w1")
    return drain(source, classifier, store, router, deliverer, WorkerOptions(batch_size=50, lease_seconds=0), "w1")


def test_a_message_failing_inside_the_batch_is_rolled_back_alone(store: Store, corpus_files: list[Path], tmp_path: Path) -> None:  # noqa: F811
    box = tmp_path / "box"
    fill_maildir(box, corpus_files, 5)
    source = MaildirSource("returns", box)
    # The first message creates and prunes the subscriber, then fails: the next ones must not
    # see that rolled-back row (nor a cached copy of it) and create it again themselves.
    total = _drain(store, source, SameBounce(), FailingRouter(_router(store), b"rm-test-0@"))
    assert (total.processed, total.failed) == (4, 1)
    assert _count(store, RawMessageRow) == 4
    with store.reader() as s:
        subs = s.execute(select(Subscriber)).scalars().all()
    assert [(sub.address_key, sub.status) for sub in subs] == [(ADDRESS, "pruned")]
    assert _count(store, Suppression) == 1
    assert _count(store, ActionTaken, disposition="prune", status="done") == 1
    assert _count(store, ActionTaken, disposition="prune") == 4  # the later three: "already pruned"
    source.close()  # the failed one goes back to the inbox and is recorded by the next drain
    assert maildir_counts(box) == {"inbox": 1, "claimed": 0, "processed": 4}
    assert _drain(store, MaildirSource("returns", box), SameBounce()).processed == 1
    assert _count(store, RawMessageRow) == 5 and _count(store, ActionTaken, disposition="prune") == 5


def test_nothing_is_acked_before_the_batch_committed(store: Store, classifier: object, corpus_files: list[Path], tmp_path: Path) -> None:  # noqa: F811
    seen: list[bool] = []

    class Watching(MaildirSource):
        def ack(self, key: str) -> None:
            with store.reader() as s:  # another connection: sees committed rows only
                seen.append(s.execute(select(RawMessageRow.id).where(RawMessageRow.key == key)).first() is not None)
            super().ack(key)

    fill_maildir(tmp_path / "box", corpus_files, 30)
    assert _drain(store, Watching("returns", tmp_path / "box"), classifier).processed == 30
    assert seen == [True] * 30


def test_a_failed_commit_leaves_the_whole_batch_in_the_source(store: Store, classifier: object, corpus_files: list[Path], tmp_path: Path) -> None:  # noqa: F811
    box = tmp_path / "box"
    fill_maildir(box, corpus_files, 12)

    def broken_disk() -> None:
        raise OSError(5, "Input/output error")

    store.raw_files.sync = broken_disk  # type: ignore[method-assign]
    source = MaildirSource("returns", box)
    total = _drain(store, source, classifier)
    assert (total.processed, total.failed) == (0, 12)
    assert _count(store, RawMessageRow) == 0
    source.close()
    assert maildir_counts(box) == {"inbox": 12, "claimed": 0, "processed": 0}
    del store.raw_files.sync
    assert _drain(store, MaildirSource("returns", box), classifier).processed == 12


def test_a_message_whose_copy_cannot_be_kept_fails_alone_with_its_twin(store: Store, classifier: object, corpus_files: list[Path], tmp_path: Path) -> None:  # noqa: F811
    """Keeping the raw copies runs after the batch is classified (worker._keep_all): a copy that
    cannot be written (here: its bytes, twice in the batch) fails that message and its twin; the
    others are recorded and acked, the two wait in the inbox and go through once the disk is back."""
    box = tmp_path / "box"
    written = fill_maildir(box, corpus_files, 8)
    (box / "new" / "1800000000.M9P2.retry").write_bytes(written[3])  # the same bytes again: a twin
    refused = written[3]
    keep = store.raw_files.keep

    def full_disk(raw: bytes, *args: object, **kwargs: object) -> str:
        if raw == refused:
            raise OSError(28, "No space left on device")
        return keep(raw, *args, **kwargs)  # type: ignore[arg-type]

    store.raw_files.keep = full_disk  # type: ignore[method-assign]
    source = MaildirSource("returns", box)
    total = _drain(store, source, classifier)
    assert (total.processed, total.failed) == (7, 2)
    assert _count(store, RawMessageRow) == 7
    source.close()
    assert maildir_counts(box) == {"inbox": 2, "claimed": 0, "processed": 7}
    del store.raw_files.keep
    again = _drain(store, MaildirSource("returns", box), classifier)
    assert (again.processed, again.duplicates, again.failed) == (1, 1, 0)
    assert _count(store, RawMessageRow) == 8


def _another_worker_records_message_3(store: Store, classifier: object, box: Path, changed: bytes = b"") -> str:  # noqa: F811
    """Drain ten messages of ``box`` while another worker records message 3 (its bytes and ``changed``)
    under its key and commits, as we classify it; that message's key."""
    other_key = sorted((box / "new").iterdir())[3].name

    class OtherWorkerWins:
        def classify(self, raw: bytes) -> Verdict:
            if b"rm-test-3@" in raw:
                with store.transaction() as s:
                    record_message(s, RawMessage("returns", other_key, raw + changed),
                                   Verdict("user_reply", 0.5, "other", "reply"), "p")
            return classifier.classify(raw)  # type: ignore[attr-defined]

    total = _drain(store, MaildirSource("returns", box), OtherWorkerWins())
    assert (total.processed, total.duplicates, total.failed) == (9, 1, 0)
    return other_key


def test_a_message_another_worker_committed_meanwhile_is_only_acked(store: Store, classifier: object, corpus_files: list[Path], tmp_path: Path) -> None:  # noqa: F811
    box = tmp_path / "box"
    fill_maildir(box, corpus_files, 10)
    other_key = _another_worker_records_message_3(store, classifier, box)
    assert _count(store, RawMessageRow) == 10 and _count(store, RawMessageRow, key=other_key) == 1
    with store.reader() as s:
        assert s.execute(select(RawMessageRow.path).where(RawMessageRow.key == other_key)).scalar_one() == "p"
    assert maildir_counts(box) == {"inbox": 0, "claimed": 0, "processed": 10}


def test_other_bytes_recorded_meanwhile_under_the_same_key_make_a_replay_not_a_second_row(store: Store, classifier: object, corpus_files: list[Path], tmp_path: Path) -> None:  # noqa: F811
    """The recording transaction looks for the batch's bytes only; a key recorded meanwhile with
    other bytes is stopped by UNIQUE (source, key): the batch is recorded message by message and
    that message only acknowledged."""
    box = tmp_path / "box"
    fill_maildir(box, corpus_files, 10)
    other_key = _another_worker_records_message_3(store, classifier, box, changed=b"\n-- changed\n")
    assert _count(store, RawMessageRow) == 10 and _count(store, RawMessageRow, key=other_key) == 1
    assert maildir_counts(box) == {"inbox": 0, "claimed": 0, "processed": 10}


def test_copies_of_the_same_bytes_recorded_by_another_worker_meanwhile_become_replays(store: Store, corpus_files: list[Path], tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """A sender resending after a lost 250: two keys, the same bytes, two workers at once.

    Worker A looked for the bytes before worker B committed them (the look is
    made to find nothing here); A's recording transaction must see B's row and
    only acknowledge its copy.
    """
    raw = fill_maildir(tmp_path / "b", corpus_files, 1)[0]
    deliver_to_maildir(tmp_path / "a", [raw], 7)  # the resent copy: same bytes, another file name
    fill_maildir(tmp_path / "a", corpus_files, 1, start=8)  # and a new message: the batch is recorded in bulk
    assert _drain(store, MaildirSource("returns", tmp_path / "b"), SameBounce()).processed == 1
    monkeypatch.setattr(worker, "find_recorded_many", lambda session, source, messages: {})
    late = _drain(store, MaildirSource("returns", tmp_path / "a"), SameBounce())
    assert _count(store, RawMessageRow) == 2  # the copy recorded once, the new message once
    assert (late.processed, late.duplicates, late.failed) == (1, 1, 0)
    assert maildir_counts(tmp_path / "a") == {"inbox": 0, "claimed": 0, "processed": 2}


def test_the_heap_is_trimmed_once_per_batch_after_it_committed(store: Store, classifier: object, corpus_files: list[Path], tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """A long-lived worker gives each batch's freed pages back (glibc kept them resident: issue 11)."""
    trims: list[int] = []
    monkeypatch.setattr(worker, "trim_heap", lambda: trims.append(_count(store, RawMessageRow)) or True)
    fill_maildir(tmp_path / "box", corpus_files, 25)
    source = MaildirSource("returns", tmp_path / "box")
    router = _router(store)
    result = drain(source, classifier, store, router, OutboxDeliverer(store, router.config, "w1"),
                   WorkerOptions(batch_size=10, lease_seconds=0), "w1")
    assert result.processed == 25
    assert trims == [10, 20, 25]  # after each batch with messages, its rows committed; not for the empty fetch


def test_trim_heap_is_harmless_to_call() -> None:
    from responsemaster.heap_trim import trim_heap

    assert trim_heap() in (True, False) and trim_heap() in (True, False)
