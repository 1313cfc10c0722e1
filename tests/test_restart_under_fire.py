"""``responsemaster run`` SIGKILLed at random moments while mail pours in, and started again each time.

What an operator needs from a service the OOM killer may shoot: nothing of a
killed run outlives it (the sidecar, Huey's workers, the API child: gone
within 5 s), the next run listens again within 5 s, and every message the
receiver answered 250 (or that landed in the Maildir) is processed exactly
once, and nothing else is.

Mail arrives two ways at once: 8 SMTP connections sending corpus messages
with CRLF line ends (each one retried, as an MTA does, until it gets a 250:
a 250 lost to a kill leaves a second copy of the same bytes, which the
store recognises), and files written into the Maildir's ``new/`` the way an
MDA writes them. ``RM_FIRE_ROUNDS`` and ``RM_FIRE_SEED`` size and seed it.
"""

from __future__ import annotations

import os
import random
import re
import signal
import smtplib
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from fixtures.processes import describe, start_run, tree, wait_gone, wait_greeting
from fixtures.servers import free_port
from fixtures.worker_setup import unique_copy, write_config

from responsemaster.config import load_settings
from responsemaster.store import open_store
from responsemaster.store.messages import RawMessageRow

ROUNDS = int(os.environ.get("RM_FIRE_ROUNDS", "10"))
SEED = int(os.environ.get("RM_FIRE_SEED", str(random.randrange(1_000_000))))
SENDERS = 8
LEASE = 6  # seconds: claims of a killed worker come back quickly


class Mail:
    """What was accepted: Message-IDs answered 250 by the receiver or written into new/."""

    def __init__(self, corpus: list[bytes]) -> None:
        self.corpus = corpus
        self.accepted: set[str] = set()
        self.refused: set[str] = set()  # answered 5xx: never to be processed
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.seq = 0
        self.errors: list[str] = []

    def next(self, prefix: str) -> tuple[str, bytes]:
        with self.lock:
            self.seq += 1
            seq = self.seq
        raw = unique_copy(self.corpus[seq % len(self.corpus)], seq)
        raw = raw.replace(b"<rm-test-%d@corpus.invalid>" % seq, b"<%s-%d@fire.invalid>" % (prefix.encode(), seq))
        return f"<{prefix}-{seq}@fire.invalid>", raw

    def accept(self, message_id: str) -> None:
        with self.lock:
            self.accepted.add(message_id)

    def refuse(self, message_id: str) -> None:
        with self.lock:
            self.refused.add(message_id)


def _sender(mail: Mail, port: int, rng: random.Random) -> None:
    """One SMTP client: a message at a time, retried until 250, reconnecting as needed."""
    smtp: smtplib.SMTP | None = None
    while not mail.stop.is_set():
        message_id, raw = mail.next("smtp")
        data = re.sub(rb"\r?\n", b"\r\n", raw)
        while True:  # an MTA retries a message until it is accepted
            try:
                if smtp is None:
                    smtp = smtplib.SMTP("127.0.0.1", port, timeout=10)
                smtp.sendmail("", ["bounces@returns.example.org"], data)  # null sender, like a bounce
                mail.accept(message_id)
                break
            except smtplib.SMTPResponseException as exc:
                if exc.smtp_code >= 500:  # refused for good (a line too long, say): an MTA bounces it
                    mail.refuse(message_id)
                    break
                smtp = _drop(smtp)
            except (OSError, smtplib.SMTPException):
                smtp = _drop(smtp)
        time.sleep(rng.uniform(0.05, 0.25))
    if smtp is not None:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            pass


def _drop(smtp: smtplib.SMTP | None) -> None:
    """Close a connection that failed, and pause before the retry."""
    if smtp is not None:
        try:
            smtp.close()
        except OSError:
            pass
    time.sleep(0.1)


def _dropper(mail: Mail, maildir: Path, rng: random.Random) -> None:
    """An MDA: tmp/ then rename into new/."""
    n = 0
    while not mail.stop.is_set():
        message_id, raw = mail.next("drop")
        n += 1
        name = f"{int(time.time())}.M{n}P{os.getpid()}.fire"
        (maildir / "tmp" / name).write_bytes(raw)
        os.rename(maildir / "tmp" / name, maildir / "new" / name)
        mail.accept(message_id)
        time.sleep(rng.uniform(0.05, 0.4))


_OURS = re.compile(rb"<(?:smtp|drop)-\d+@fire\.invalid>")


def _recorded(config: Path) -> tuple[Counter[str], int]:
    """Recorded messages per Message-ID this test gave (read from the kept bytes), and raw rows.

    (Read from the bytes, not from the verdict: some corpus messages have a
    broken header block, and their Message-ID lands in what parses as body.)
    """
    from sqlalchemy import select

    store = open_store(load_settings(config))
    try:
        with store.reader() as session:
            paths = session.execute(select(RawMessageRow.path)).scalars().all()
        found: Counter[str] = Counter()
        for path in paths:
            match = _OURS.search(store.raw_files.read(path))
            found[match.group(0).decode() if match else f"unknown: {path}"] += 1
    finally:
        store.close()
    return found, len(paths)


def _maildir_left(box: Path) -> int:
    return sum(len(os.listdir(box / sub)) for sub in ("new", "cur", "rm-claimed") if (box / sub).is_dir())


def test_sigkill_and_restart_under_fire_loses_nothing_and_repeats_nothing(tmp_path: Path, corpus_files: list[Path]) -> None:
    rng = random.Random(SEED)
    box = tmp_path / "box"
    for sub in ("tmp", "new", "cur"):
        (box / sub).mkdir(parents=True)
    port = free_port()
    config = write_config(
        tmp_path / "rm.toml", box, f"sqlite:///{tmp_path / 'var' / 'rm.db'}",
        receiver={"enabled": True, "port": port, "maildir": str(box), "domains": ["returns.example.org"]},
        sources=[{"name": "returns", "type": "maildir", "path": str(box), "lease_seconds": LEASE}],
        worker={"poll_seconds": 0.3, "batch_size": 20, "lease_seconds": LEASE, "settle_seconds": 2},
        api={"serve_with_run": True, "port": 0, "log_level": "warning"},
    )
    log = tmp_path / "run.log"
    mail = Mail([p.read_bytes() for p in corpus_files])
    threads = [threading.Thread(target=_sender, args=(mail, port, random.Random(SEED + i)), daemon=True) for i in range(SENDERS)]
    threads.append(threading.Thread(target=_dropper, args=(mail, box, random.Random(SEED - 1)), daemon=True))
    for thread in threads:
        thread.start()
    listen_times: list[float] = []
    final = None
    started = time.monotonic()
    try:
        for number in range(ROUNDS):
            api = number % 4 == 1  # the API child too, in some rounds
            proc = start_run(config, *([] if api else ["--no-api"]), log=log)
            try:
                waited = wait_greeting(port, timeout=5.0)
                assert waited is not None, f"round {number} (seed {SEED}): no SMTP greeting within 5 s\n{log.read_text()[-3000:]}"
                listen_times.append(waited)
                time.sleep(rng.uniform(0.0, 3.0))  # kill at a random moment: starting, idle, mid-batch
            finally:
                procs = tree(proc.pid)
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
            left = wait_gone(procs, timeout=5.0)
            assert not left, f"round {number} (seed {SEED}): still running 5 s after the kill:\n{describe(left)}"
        rounds_done = time.monotonic()
        final = start_run(config, "--no-api", log=log)
        assert wait_greeting(port, timeout=5.0) is not None, f"the last start (seed {SEED}): no SMTP greeting within 5 s"
        time.sleep(1.0)
    finally:
        mail.stop.set()
        for thread in threads:
            thread.join(30)
        stuck = [thread for thread in threads if thread.is_alive()]
        if final is not None:
            try:
                deadline = time.monotonic() + 90  # claims of the last killed workers come back after LEASE
                while time.monotonic() < deadline:
                    counts, _rows = _recorded(config)
                    if set(counts) >= mail.accepted and _maildir_left(box) == 0:
                        print(f"rounds {rounds_done - started:.1f} s, final drain {time.monotonic() - rounds_done:.1f} s")
                        break
                    time.sleep(1)
            finally:
                procs = tree(final.pid)
                final.send_signal(signal.SIGTERM)
                code = final.wait(60)
    assert not stuck, "a sender never finished its last message"
    assert code == 0, log.read_text()[-3000:]
    assert not wait_gone(procs, timeout=5.0)
    counts, rows = _recorded(config)
    context = f"seed {SEED}, {len(mail.accepted)} accepted, {len(mail.refused)} refused, restarts listened in {max(listen_times):.2f} s at most"
    assert len(mail.accepted) > 100, context
    missing = mail.accepted - set(counts)
    assert not missing, f"{context}: never processed: {sorted(missing)[:10]}"
    assert set(counts) == mail.accepted, f"{context}: processed but never accepted: {sorted(set(counts) - mail.accepted)[:10]}"
    twice = {k: n for k, n in counts.items() if n != 1}
    assert not twice, f"{context}: processed more than once: {list(twice.items())[:10]}"
    assert rows == len(mail.accepted), context
    assert _maildir_left(box) == 0, context
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
    print(context)
