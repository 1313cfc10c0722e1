"""The Maildir source: claims, leases, ack and quarantine, several workers."""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from pathlib import Path

import pytest

from responsemaster.ingest.maildir_io import deliver, ensure_maildir, read_whole
from responsemaster.ingest.maildir_source import CLAIMS_DIR, MaildirSource
from responsemaster.ingest.source import Source


def _message(n: int) -> bytes:
    return (
        f"From: MAILER-DAEMON@example.net\r\nTo: bounces+{n}@example.org\r\n"
        f"Subject: Undelivered Mail {n}\r\n\r\nbody {n}\r\n"
    ).encode()


@pytest.fixture
def maildir(tmp_path: Path) -> Path:
    return ensure_maildir(tmp_path / "returns")


def _fill(root: Path, count: int) -> list[bytes]:
    messages = [_message(n) for n in range(count)]
    for data in messages:
        deliver(root, data)
    return messages


def test_is_a_source(maildir: Path) -> None:
    source: Source = MaildirSource("returns", maildir)
    assert source.name == "returns"


def test_fetch_ack_round_trip(maildir: Path) -> None:
    sent = _fill(maildir, 5)
    source = MaildirSource("returns", maildir)
    assert source.pending() == 5
    batch = source.fetch(3)
    assert len(batch) == 3 and all(m.source == "returns" for m in batch)
    assert [m.raw for m in batch] == sent[:3]  # oldest unique names first
    assert source.pending() == 5  # claimed is still pending until acked
    for message in batch:
        source.ack(message.key)
    assert source.pending() == 2
    processed = sorted((maildir / ".Processed" / "cur").iterdir())
    assert len(processed) == 3 and all(p.name.endswith(":2,") for p in processed)
    assert {p.read_bytes() for p in processed} == set(sent[:3])
    assert (maildir / ".Processed" / "maildirfolder").exists()
    source.ack(batch[0].key)  # a second ack is a no-op
    assert source.processed() == 3


def test_keys_drop_flags_and_cur_is_read(maildir: Path) -> None:
    (maildir / "cur" / "1700000000.M1P1.host:2,S").write_bytes(b"Subject: seen\r\n\r\nx\r\n")
    source = MaildirSource("returns", maildir)
    [message] = source.fetch(10)
    assert message.key == "1700000000.M1P1.host"
    source.ack(message.key)
    assert (maildir / ".Processed" / "cur" / "1700000000.M1P1.host:2,S").exists()


def test_quarantine_keeps_bytes_and_reason(maildir: Path, tmp_path: Path) -> None:
    poison = b"\xff\xfe not a message \x00\r\n"
    deliver(maildir, poison)
    source = MaildirSource("returns", maildir, quarantine=tmp_path / "quarantine")
    [message] = source.fetch(10)
    source.quarantine(message.key, "parse error: boom")
    [kept] = (tmp_path / "quarantine" / "cur").iterdir()
    assert kept.read_bytes() == poison
    record = json.loads((tmp_path / "quarantine" / "reasons" / f"{message.key}.reason.json").read_text())
    assert record["reason"] == "parse error: boom" and record["source"] == "returns"
    assert record["sha256"] == message.sha256 and record["file"] == f"cur/{kept.name}"
    assert source.pending() == 0 and source.quarantined() == 1


def test_two_workers_never_share_a_message(maildir: Path) -> None:
    _fill(maildir, 300)
    seen: dict[str, list[str]] = {}
    lock = threading.Lock()

    def drain(worker: str) -> None:
        source = MaildirSource("returns", maildir, worker_id=worker)
        while batch := source.fetch(7):
            for message in batch:
                with lock:
                    seen.setdefault(message.key, []).append(worker)
                source.ack(message.key)

    threads = [threading.Thread(target=drain, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 300
    assert all(len(workers) == 1 for workers in seen.values())
    assert len(list((maildir / ".Processed" / "cur").iterdir())) == 300


def _drain_in_process(root: str, worker: str, out: str) -> None:
    source = MaildirSource("returns", Path(root), worker_id=worker)
    keys = []
    while batch := source.fetch(5):
        for message in batch:
            keys.append(message.key)
            source.ack(message.key)
    Path(out).write_text("\n".join(keys))


def test_two_processes_never_share_a_message(maildir: Path, tmp_path: Path) -> None:
    _fill(maildir, 200)
    context = multiprocessing.get_context("spawn")
    outs = [tmp_path / f"keys{i}" for i in range(2)]
    procs = [
        context.Process(target=_drain_in_process, args=(str(maildir), f"p{i}", str(out)))
        for i, out in enumerate(outs)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    keys = [k for out in outs for k in out.read_text().split("\n") if k]
    assert len(keys) == 200 and len(set(keys)) == 200


def test_claims_of_a_crashed_worker_come_back_after_the_lease(maildir: Path) -> None:
    _fill(maildir, 3)
    crashed = MaildirSource("returns", maildir, worker_id="crashed", lease_seconds=1)
    taken = crashed.fetch(10)
    assert len(taken) == 3 and len(list((maildir / CLAIMS_DIR).iterdir())) == 3
    other = MaildirSource("returns", maildir, worker_id="other")
    assert other.fetch(10) == []  # leased: not fetchable
    time.sleep(2.1)
    again = other.fetch(10)
    assert sorted(m.key for m in again) == sorted(m.key for m in taken)
    for message in again:
        other.ack(message.key)
    crashed.ack(taken[0].key)  # the slow worker acks late: harmless no-op
    assert other.pending() == 0 and other.processed() == 3


def test_expired_claims_are_looked_for_at_most_once_an_interval(maildir: Path) -> None:
    """A batch gathered in quick fetches lists the claims once, and a claim that expires meanwhile
    is back at the first fetch after the interval (a tenth of the lease, here 0.2 s)."""
    _fill(maildir, 4)
    crashed = MaildirSource("returns", maildir, worker_id="crashed", lease_seconds=1)
    taken = crashed.fetch(2)
    worker = MaildirSource("returns", maildir, worker_id="worker", lease_seconds=2)
    looks = []
    real = worker.reclaim_expired
    worker.reclaim_expired = lambda now=None: looks.append(1) or real(now)  # type: ignore[method-assign]
    mine = worker.fetch(1) + worker.fetch(1)
    assert len(mine) == 2 and len(looks) == 1
    for message in mine:
        worker.ack(message.key)
    time.sleep(2.1)  # the crashed worker's lease is over, and so is the interval
    again = worker.fetch(10)
    assert len(looks) == 2 and sorted(m.key for m in again) == sorted(m.key for m in taken)


def test_renewed_lease_is_kept(maildir: Path) -> None:
    _fill(maildir, 1)
    slow = MaildirSource("returns", maildir, worker_id="slow", lease_seconds=1)
    [message] = slow.fetch(1)
    slow.lease_seconds = 60
    slow.renew_leases()
    time.sleep(1.1)
    assert MaildirSource("returns", maildir, worker_id="other").fetch(1) == []
    slow.ack(message.key)
    assert slow.processed() == 1


def test_close_gives_claims_back(maildir: Path) -> None:
    _fill(maildir, 2)
    first = MaildirSource("returns", maildir, worker_id="a")
    assert len(first.fetch(10)) == 2
    first.close()
    assert len(MaildirSource("returns", maildir, worker_id="b").fetch(10)) == 2


def _drain_measuring_peak(root: str) -> tuple[int, int]:
    """Drain in a fresh process (no other test's threads in the trace): (drained, peak bytes)."""
    import tracemalloc

    source = MaildirSource("returns", Path(root), window=256)
    tracemalloc.start()
    drained, peak = 0, 0
    while batch := source.fetch(50):
        drained += len(batch)
        for message in batch:
            source.ack(message.key)
        peak = max(peak, tracemalloc.get_traced_memory()[1])
        tracemalloc.reset_peak()
    tracemalloc.stop()
    return drained, peak


def test_memory_stays_flat_on_a_large_maildir(maildir: Path) -> None:
    for n in range(3000):
        (maildir / "new" / f"{1700000000 + n}.M{n}P1.host").write_bytes(_message(n) + b"x" * 2000)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        drained, peak = pool.apply(_drain_measuring_peak, (str(maildir),))
    assert drained == 3000
    assert peak < 2_000_000  # a window of names and one batch, not the folder's 6 MB


def test_wait_returns_when_mail_arrives(maildir: Path) -> None:
    from responsemaster.ingest.source import wait_for_mail

    source = MaildirSource("returns", maildir)
    assert wait_for_mail(source, 0.3) is False
    threading.Timer(0.3, lambda: deliver(maildir, _message(1))).start()
    started = time.monotonic()
    assert wait_for_mail(source, 10) is True
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 70_000])
def test_read_whole_gives_every_byte_of_a_file(tmp_path: Path, size: int) -> None:
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    path = tmp_path / "m"
    path.write_bytes(data)
    assert read_whole(str(path)) == data


def test_read_whole_reads_past_the_size_it_was_told(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file longer than its fstat said (it grew meanwhile) is read to its end, not cut at the old size."""
    import os

    path = tmp_path / "m"
    data = b"x" * 10_000 + b"y" * 3
    path.write_bytes(data)
    real = os.fstat

    def smaller(fd: int) -> os.stat_result:
        st = list(real(fd))
        st[6] = 5_000  # st_size
        return os.stat_result(st)

    monkeypatch.setattr(os, "fstat", smaller)
    assert read_whole(str(path)) == data
