"""The worker on a real Maildir: exactly once, replays, quarantine, poison, the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fixtures.sinks import SmtpSink, smtp_sink  # noqa: F401 - fixture
from fixtures.store_backends import db_url, store  # noqa: F401 - fixtures
from fixtures.worker_setup import cli, fill_maildir, maildir_counts, write_config
from fixtures.worker_setup import count_rows as _count
from sqlalchemy import select

from responsemaster.config import Settings
from responsemaster.ingest.maildir_source import MaildirSource
from responsemaster.routing import OutboxDeliverer, Router, load_routing
from responsemaster.store import Store
from responsemaster.store.messages import MessageVerdict, RawMessageRow, RecipientVerdictRow
from responsemaster.worker import WorkerOptions, drain


def _drain(store: Store, classifier: object, source: MaildirSource, options: WorkerOptions | None = None):  # type: ignore[no-untyped-def]  # noqa: F811
    router = Router(load_routing(Settings(base_dir=store.var.parent)), store.var)
    deliverer = OutboxDeliverer(store, router.config, "w1")
    return drain(source, classifier, store, router, deliverer, options or WorkerOptions(batch_size=25), "w1")


def test_every_message_is_recorded_once_and_acked(store: Store, classifier: object, corpus_files: list[Path], tmp_path: Path) -> None:  # noqa: F811
    box = tmp_path / "box"
    written = fill_maildir(box, corpus_files, 80, poison_every=40)
    source = MaildirSource("returns", box, quarantine=tmp_path / "quarantine")
    total = _drain(store, classifier, source)
    assert (total.processed, total.quarantined, total.duplicates, total.failed) == (78, 2, 0, 0)
    assert _count(store, RawMessageRow) == _count(store, MessageVerdict) == 80
    assert maildir_counts(box) == {"inbox": 0, "claimed": 0, "processed": 78}
    with store.reader() as s:
        paths = s.execute(select(RawMessageRow.path, RawMessageRow.sha256)).all()
    assert {store.raw_files.read(p) for p, _ in paths} == set(written)  # every byte kept
    again = _drain(store, classifier, MaildirSource("returns", box, quarantine=tmp_path / "quarantine"))
    assert again.fetched == 0


def test_quarantine_keeps_bytes_exactly_with_the_reason_and_the_rest_goes_on(store: Store, classifier: object, corpus_files: list[Path], tmp_path: Path) -> None:  # noqa: F811
    box = tmp_path / "box"
    written = fill_maildir(box, corpus_files, 10, poison_every=3)  # 3 blank messages among 10
    source = MaildirSource("returns", box, quarantine=tmp_path / "quarantine")
    total = _drain(store, classifier, source)
    assert (total.processed, total.quarantined) == (7, 3)
    kept = sorted((tmp_path / "quarantine" / "cur").iterdir())
    assert sorted(p.read_bytes() for p in kept) == sorted(w for w in written if not w.strip())
    reasons = [json.loads(p.read_text()) for p in (tmp_path / "quarantine" / "reasons").iterdir()]
    assert all(r["reason"].startswith("not mail: no header block") for r in reasons)
    with store.reader() as s:
        rows = s.execute(select(RawMessageRow).where(RawMessageRow.state == "quarantined")).scalars().all()
    assert len(rows) == 3 and all((r.error or "").startswith("not mail: no header block") for r in rows)


def test_a_replay_after_commit_is_only_acked(store: Store, classifier: object, corpus_files: list[Path], tmp_path: Path) -> None:  # noqa: F811
    box = tmp_path / "box"
    fill_maildir(box, corpus_files, 30, poison_every=10)
    _drain(store, classifier, MaildirSource("returns", box, quarantine=tmp_path / "q"))
    for done in (box / ".Processed" / "cur").iterdir():  # as if the worker died before every ack
        done.rename(box / "new" / done.name.split(":2,")[0])
    for done in (tmp_path / "q" / "cur").iterdir():
        done.rename(box / "new" / done.name.split(":2,")[0])
    before = (_count(store, RawMessageRow), _count(store, RecipientVerdictRow))
    total = _drain(store, classifier, MaildirSource("returns", box, quarantine=tmp_path / "q"))
    assert (total.processed, total.duplicates) == (0, 30)
    assert (_count(store, RawMessageRow), _count(store, RecipientVerdictRow)) == before
    assert maildir_counts(box)["processed"] == 27 and len(list((tmp_path / "q" / "cur").iterdir())) == 3


class ExplodingClassifier:
    """Fault injection: the real classifier never raises, so a raising one stands in for a bug."""

    def __init__(self, real: object) -> None:
        self.real = real

    def classify(self, raw: bytes):  # type: ignore[no-untyped-def]
        if b"rm-test-3@" in raw:
            raise RuntimeError("boom")
        return self.real.classify(raw)  # type: ignore[attr-defined]


def test_a_failing_message_never_blocks_the_rest_and_is_quarantined_after_max_attempts(store: Store, classifier: object, corpus_files: list[Path], tmp_path: Path) -> None:  # noqa: F811
    box = tmp_path / "box"
    fill_maildir(box, corpus_files, 12)
    options = WorkerOptions(batch_size=5, max_attempts=2, lease_seconds=0)
    failed = 0
    for _ in range(4):
        source = MaildirSource("returns", box, quarantine=tmp_path / "q")
        failed += _drain(store, ExplodingClassifier(classifier), source, options).failed
        source.close()  # give the failed message back to the inbox
    assert failed == 2
    assert _count(store, RawMessageRow, state="processed") == 11
    with store.reader() as s:
        row = s.execute(select(RawMessageRow).where(RawMessageRow.state == "quarantined")).scalars().one()
    assert "gave up after 2 attempts" in (row.error or "") and "boom" in (row.error or "")
    assert maildir_counts(box)["inbox"] == 0


class FailsOnce:
    """Fault injection: the first time one message is classified, ``fault`` is raised (a deadlock
    that outlasted its retries is hard to provoke on purpose); then it is classified like the others."""

    def __init__(self, real: object, fault: Exception) -> None:
        self.real, self.fault = real, fault

    def classify(self, raw: bytes):  # type: ignore[no-untyped-def]
        if b"rm-test-3@" in raw and self.fault is not None:
            fault, self.fault = self.fault, None
            raise fault
        return self.real.classify(raw)  # type: ignore[attr-defined]


def _deadlock() -> Exception:
    from psycopg.errors import DeadlockDetected
    from sqlalchemy.exc import OperationalError

    return OperationalError("INSERT ...", {}, DeadlockDetected("deadlock detected"))


@pytest.mark.parametrize("passing", [True, False])
def test_a_message_failed_by_a_passing_fault_is_tried_again_before_the_drain_ends(
    passing: bool, store: Store, classifier: object, corpus_files: list[Path], tmp_path: Path  # noqa: F811
) -> None:
    """``run --once`` drains what is there: a message that met a deadlock (or a lost connection) is
    given back and tried again at the end of the drain; it used to stay claimed until the worker
    stopped, then wait in the inbox for the next run. Any other failure still waits (its attempts
    must not be spent in seconds on an outage: tests/test_worker_batch.py)."""
    box = tmp_path / "box"
    fill_maildir(box, corpus_files, 12)
    source = MaildirSource("returns", box, quarantine=tmp_path / "q")
    fault = _deadlock() if passing else RuntimeError("a bug")
    total = _drain(store, FailsOnce(classifier, fault), source, WorkerOptions(batch_size=5))
    assert (total.processed, total.failed) == ((12, 1) if passing else (11, 1))
    assert maildir_counts(box) == {"inbox": 0, "claimed": 0 if passing else 1, "processed": total.processed}
    source.close()


def test_run_once_status_and_export_from_the_shell(tmp_path: Path, corpus_files: list[Path], smtp_sink: SmtpSink) -> None:  # noqa: F811
    box = tmp_path / "box"
    fill_maildir(box, corpus_files, 60, poison_every=30)
    config = write_config(tmp_path / "rm.toml", box, f"sqlite:///{tmp_path / 'var' / 'rm.db'}",
                          routing={"forward_to": "support@example.net", "smtp": {"port": smtp_sink.port}})
    run = cli("run", "--once", "--config", str(config))
    assert run.returncode == 0, run.stderr
    assert "58 processed" in run.stderr and "2 quarantined" in run.stderr
    status = json.loads(cli("status", "--json", "--config", str(config)).stdout)
    (entry,) = status["sources"]
    last_error = entry.pop("last_error")
    assert entry == {"name": "returns", "processed": 58, "pending": 0, "quarantined": 2}
    # The last of the two poisons (sequence numbers 29 and 59), by its key, with its reason.
    assert re.fullmatch(r"17000000[25]9\.M[25]9P1\.test: quarantined: not mail: no header block .*", last_error), last_error
    lines = [json.loads(line) for line in cli("export", "verdicts", "--config", str(config)).stdout.splitlines()]
    assert len({line["id"] for line in lines}) == 60
    assert all(set(line) >= {"id", "category", "reason", "decided_by", "attribution", "recipient"} for line in lines)
    assert smtp_sink.received == smtp_sink.distinct > 0


def test_several_workers_on_one_maildir_process_each_message_once(
    db_url: str, tmp_path: Path, corpus_files: list[Path], smtp_sink: SmtpSink  # noqa: F811
) -> None:
    """Workers in contention: small batches of corpus copies that share addresses. On PostgreSQL six
    workers deadlocked on subscriber rows in most runs (a message then failed, left for the next run)
    before every recording transaction took its advisory locks in one order (tests/test_worker_locks.py)."""
    import subprocess
    import sys

    workers = 6 if db_url.startswith("postgresql") else 3
    box = tmp_path / "box"
    fill_maildir(box, corpus_files, 400, poison_every=100)
    config = write_config(tmp_path / "rm.toml", box, db_url, worker={"batch_size": 10, "settle_seconds": 5},
                          routing={"forward_to": "support@example.net", "smtp": {"port": smtp_sink.port},
                                   "max_forwards_per_sender": 1000})
    procs = [subprocess.Popen([sys.executable, "-m", "responsemaster", "run", "--once", "--config", str(config)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(workers)]
    outputs = [p.communicate(timeout=180) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outputs]
    status = json.loads(cli("status", "--json", "--config", str(config)).stdout)["sources"][0]
    print(maildir_counts(box), *[o[1] for o in outputs], sep="\n---\n")  # shown in full when the test fails
    assert (status["processed"], status["quarantined"], status["pending"]) == (396, 4, 0)
    assert maildir_counts(box) == {"inbox": 0, "claimed": 0, "processed": 396}
    assert sum("processed" in o[1] for o in outputs) == workers
    assert all(re.search(r"done returns: .* 0 failed", o[1]) for o in outputs)  # no worker met a failure
    assert smtp_sink.received == smtp_sink.distinct > 0


def test_the_same_bytes_twice_in_one_batch_are_recorded_once(store: Store, classifier: object, corpus_files: list[Path], tmp_path: Path) -> None:  # noqa: F811
    """An SMTP sender that never saw our 250 sends the message again: two files, identical bytes,
    often in the same batch. The store keeps one; both files leave the inbox."""
    box = tmp_path / "box"
    written = fill_maildir(box, corpus_files, 6)
    for copy, raw in enumerate(written[:2]):
        (box / "new" / f"1800000000.M{copy}P2.retry").write_bytes(raw)
    total = _drain(store, classifier, MaildirSource("returns", box, quarantine=tmp_path / "quarantine"))
    assert (total.processed, total.duplicates, total.failed) == (6, 2, 0)
    assert _count(store, RawMessageRow) == _count(store, MessageVerdict) == 6
    assert maildir_counts(box) == {"inbox": 0, "claimed": 0, "processed": 8}


@pytest.mark.parametrize("sync", [True, False])
def test_no_kept_file_waits_for_a_sync_after_a_drain(sync: bool, store: Store, classifier: object, corpus_files: list[Path], tmp_path: Path) -> None:  # noqa: F811
    """With ``sync_kept_files = false`` nothing syncs: the names must not pile up in RawFiles (issue 11)."""
    box = tmp_path / "box"
    fill_maildir(box, corpus_files, 60)
    source = MaildirSource("returns", box, quarantine=tmp_path / "quarantine")
    total = _drain(store, classifier, source, WorkerOptions(batch_size=25, sync_kept_files=sync))
    assert total.processed == 60
    assert store.raw_files.pending() == 0
