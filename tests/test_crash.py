"""Crash safety: SIGKILL the worker at random points of a drain, restart, count, and compare with a clean drain.

Real corpus messages (unique Message-IDs, a few unparseable poisons) in a
source; the worker (the real command) is killed with SIGKILL at a random
point of its progress, many times, then allowed to finish. Three set-ups:

- Maildir into SQLite, ``run --once`` killed 20 times over 1000+ messages;
- Maildir into PostgreSQL, the long-running ``run`` (Huey consumer and its
  sidecar: the whole process group is killed, as a crash of the service
  would) killed 4 times, and finished by ``run`` itself;
- a Dovecot IMAP mailbox into SQLite, ``run --once`` killed 4 times.

At the end: every message processed exactly once (one raw row, one verdict,
the recipient rows of its verdict once each, none left in the source), every
forward and webhook delivered, re-sent at most once per kill and always
under its first Message-ID (docs/worker.md states the promise). And the
*effects* equal those of a clean drain of the same messages into a fresh
database: the same actions for the same messages, the same subscribers in
the same states, the same bounce scores, the same suppressions. The
dispositions used leave out the order-dependent ones (a reply resetting a
score) so that a crash, which reorders work, cannot change the answer.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest
from fixtures.dovecot import dovecot, dovecot_user  # noqa: F401 - fixtures
from fixtures.postgres import cluster
from fixtures.sinks import SmtpSink, WebhookSink, smtp_sink, webhook_sink  # noqa: F401 - fixtures
from fixtures.worker_setup import cli, deliver_to_maildir, maildir_counts, returned_mail, write_config
from imapclient import IMAPClient
from sqlalchemy import func, select

from responsemaster.config import load_settings
from responsemaster.store import Store, open_store
from responsemaster.store.actions import ActionTaken, OutboxItem
from responsemaster.store.base import address_key
from responsemaster.store.messages import MessageVerdict, RawMessageRow, RecipientVerdictRow, ReviewItem
from responsemaster.store.queries import source_counts
from responsemaster.store.subscribers import NOT_MAILABLE, Subscriber, Suppression
from responsemaster.worker_pool import default_workers
from responsemaster.worker_runtime import Runtime, build_sources

MESSAGES = int(os.environ.get("RM_CRASH_MESSAGES", "1000"))
ROUNDS = int(os.environ.get("RM_CRASH_ROUNDS", "20"))
POISON_EVERY = 100
#: The worker's batch size (the config below); the box is kept six batches deep.
BATCH = 50
WEIGHTS = {"soft_bounce": 1.0, "mailbox_full": 0.5, "hard_bounce": 5.0}


@dataclass(frozen=True)
class Variant:
    source: str  # maildir | imap
    database: str  # sqlite | postgresql
    command: str  # once | run
    messages: int
    rounds: int

    @property
    def id(self) -> str:
        return f"{self.source}-{self.database}-{'run --once' if self.command == 'once' else 'run'}"


VARIANTS = [
    Variant("maildir", "sqlite", "once", MESSAGES, ROUNDS),
    Variant("maildir", "postgresql", "run", 200, 4),
    Variant("imap", "sqlite", "once", 200, 4),
]


class Box(Protocol):
    def add(self, messages: list[bytes], start: int) -> list[bytes]:
        """Deliver ``messages``; the bytes as the source will hand them out."""

    def counts(self) -> dict[str, int]: ...
    def source(self) -> dict[str, Any]: ...


class MaildirBox:
    def __init__(self, root: Path, quarantine: Path) -> None:
        self.root, self.quarantine = root, quarantine

    def add(self, messages: list[bytes], start: int) -> list[bytes]:
        deliver_to_maildir(self.root, messages, start)
        return messages

    def counts(self) -> dict[str, int]:
        counts = maildir_counts(self.root)
        quarantined = self.quarantine / "cur"
        return {"pending": counts["inbox"] + counts["claimed"], "processed": counts["processed"],
                "quarantined": len(list(quarantined.iterdir())) if quarantined.is_dir() else 0}

    def source(self) -> dict[str, Any]:
        return {"name": "returns", "type": "maildir", "path": str(self.root), "lease_seconds": 2,
                "errors_folder": str(self.quarantine)}


class ImapBox:
    def __init__(self, server: Any, user: tuple[str, str]) -> None:
        self.server, self.user = server, user

    def _client(self) -> IMAPClient:
        client = IMAPClient(self.server.host, port=self.server.port, ssl=False, timeout=30)
        client.login(*self.user)
        return client

    def add(self, messages: list[bytes], start: int) -> list[bytes]:
        """IMAP speaks CRLF: the server hands out every line ending as CRLF, so that is what is appended."""
        crlf = [re.sub(rb"\r?\n", b"\r\n", raw) for raw in messages]
        with self._client() as client:
            for raw in crlf:
                client.append("INBOX", raw)
        return crlf

    def counts(self) -> dict[str, int]:
        found = {}
        with self._client() as client:
            for name, folder in (("pending", "INBOX"), ("processed", "Processed"), ("quarantined", "Errors")):
                if not client.folder_exists(folder):
                    found[name] = 0
                    continue
                client.select_folder(folder, readonly=True)
                # The errors folder also holds one note per quarantined message (keyword $RMReason).
                found[name] = len(client.search(["UNKEYWORD", "$RMReason"] if name == "quarantined" else ["ALL"]))
        return found

    def source(self) -> dict[str, Any]:
        return {"name": "returns", "type": "imap", "host": self.server.host, "port": self.server.port,
                "user": self.user[0], "password": self.user[1], "tls": "none", "idle": False, "lease_seconds": 2}


def _config(path: Path, source: dict[str, Any], db_url: str, smtp: SmtpSink, hook: WebhookSink) -> Path:
    """Every kind of effect, with the dispositions whose outcome depends on processing order left out
    (reset_score, good_delivery, the once-a-day score limit), so a crash cannot change what a clean drain gives."""
    return write_config(
        path, Path(source.get("path", path.parent / "unused")), db_url,
        sources=[source],
        worker={"batch_size": BATCH, "lease_seconds": 2, "settle_seconds": 8, "poll_seconds": 0.5},
        routing={
            "forward_to": "support@example.net",
            "max_forwards_per_sender": 100_000,
            "smtp": {"port": smtp.port, "timeout": 2},
            "webhook": {"url": hook.url, "timeout": 2},
            "outbox": {"lease_seconds": 3, "backoff_seconds": 0.5},
            "bounce_score": {"weights": WEIGHTS, "threshold": 3.0, "once_per_day": False, "stale_days": 3650},
            "categories": {"user_reply": {"actions": ["log", "forward", "review", "webhook"]},
                           "hard_bounce": {"actions": ["log", "prune", "webhook"]},
                           "auto_reply": {"actions": ["log"]},
                           "delivery_status": {"actions": ["log"]}},
        },
    )


def _start(command: str, config: Path) -> subprocess.Popen[bytes]:
    args = ["run", "--once"] if command == "once" else ["run", "--no-receiver", "--no-api"]
    return subprocess.Popen([sys.executable, "-m", "responsemaster", *args, "--config", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _kill_rounds(variant: Variant, config: Path, box: Box, corpus: list[Path], written: list[bytes],
                 rng: random.Random) -> list[int]:
    """SIGKILL a fresh worker (its whole process group) at random points of real progress, ``variant.rounds`` times.

    The kill point is measured in work, not in seconds: each round draws how
    many messages the worker must finish first, waits for that progress, adds
    a random pause of up to a quarter of a second (to land inside a batch as
    well as between them; cut short once fewer than three batches are left),
    then kills. The box is kept at least six batches deep, so the worker is
    still mid-drain when the kill lands whatever the machine's speed.
    Returns how many messages each killed worker had finished.
    """
    kills: list[int] = []
    depth = 6 * BATCH
    for _ in range(variant.rounds):
        pending = box.counts()["pending"]
        if pending < depth:
            written += box.add(returned_mail(corpus, depth - pending, POISON_EVERY, start=len(written)), len(written))
        before = _finished(box)
        target = rng.randint(1, BATCH)
        proc = _start(variant.command, config)
        deadline = time.monotonic() + 120
        while _finished(box) - before < target:
            assert proc.poll() is None, f"the worker exited ({proc.returncode}) before it had finished {target} messages"
            assert time.monotonic() < deadline, f"the worker finished under {target} messages in 120 s"
            time.sleep(0.02)
        pause_until = time.monotonic() + rng.uniform(0, 0.25)
        while time.monotonic() < pause_until and box.counts()["pending"] > 3 * BATCH:  # a fast worker: kill sooner
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        assert box.counts()["pending"], "the box drained before the kill: keep it deeper"
        kills.append(_finished(box) - before)
    return kills


def _finished(box: Box) -> int:
    counts = box.counts()
    return counts["processed"] + counts["quarantined"]


def _finish_once(config: Path) -> None:
    for _ in range(5):
        run = cli("run", "--once", "--config", str(config), timeout=600)
        assert run.returncode == 0, run.stderr[-3000:]
        if json.loads(cli("status", "--json", "--config", str(config)).stdout)["sources"][0]["pending"] == 0:
            return
    raise AssertionError("the source never drained")


def _finish_running(config: Path, box: Box, store: Store, total: int) -> None:
    """The long-running ``run`` drains the rest and delivers every effect; then it is stopped (SIGINT)."""
    proc = _start("run", config)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            with store.reader() as s:
                recorded = s.execute(select(func.count()).select_from(RawMessageRow)).scalar_one()
                undelivered = s.execute(select(func.count()).select_from(OutboxItem)
                                        .where(OutboxItem.state != "done")).scalar_one()
            if recorded == total and undelivered == 0 and box.counts()["pending"] == 0:
                return
            time.sleep(1)
        raise AssertionError(f"run did not finish: {recorded}/{total} recorded, {undelivered} effects undelivered")
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _effects(store: Store) -> dict[str, Any]:
    """What the drain did, keyed by message bytes (sha256), not by source key (the clean drain's keys differ)."""
    with store.reader() as s:
        actions = Counter(s.execute(select(RawMessageRow.sha256, ActionTaken.disposition, ActionTaken.target)
                                    .join(RawMessageRow, RawMessageRow.id == ActionTaken.message_id)).all())
        # Every score change is an action: a bounce scored ("+1 -> 3 / 3") or a prune, which keeps its
        # bounce on the row (the hard_bounce weight; only prune actions that changed the status, "done").
        done_scores: Counter[str] = Counter()
        for name, target, detail in s.execute(select(ActionTaken.disposition, ActionTaken.target, ActionTaken.detail)
                                              .where(ActionTaken.disposition.in_(("bounce_score", "prune")),
                                                     ActionTaken.status == "done")):
            weight = WEIGHTS["hard_bounce"] if name == "prune" else float(detail.split(" ", 1)[0])
            done_scores[address_key(target)] += weight
        subscribers = {key: (status, score) for key, status, score in
                       s.execute(select(Subscriber.address_key, Subscriber.status, Subscriber.bounce_score))}
        suppressed = Counter(s.execute(select(Suppression.address_key)).scalars())
        outbox = Counter(s.execute(select(OutboxItem.kind)).scalars())
        reviews = s.execute(select(func.count()).select_from(ReviewItem)).scalar_one()
    return {"actions": actions, "done_scores": done_scores, "subscribers": subscribers, "suppressed": suppressed,
            "outbox": outbox, "reviews": reviews}


def _clean_drain(tmp: Path, written: list[bytes], smtp: SmtpSink, hook: WebhookSink) -> dict[str, Any]:
    """The same messages drained once, without a crash, from a Maildir into a fresh SQLite database
    (in this process: the code ``run --once`` runs, without a second interpreter start)."""
    box = MaildirBox(tmp / "box", tmp / "quarantine")
    box.add(written, 0)
    config = _config(tmp / "rm.toml", box.source(), f"sqlite:///{tmp / 'var' / 'rm.db'}", smtp, hook)
    settings = load_settings(config)
    runtime = Runtime.build(settings)
    sources = build_sources(settings)
    try:
        totals = runtime.drain_all_once(sources, settle_seconds=8)
        assert totals["returns"].done == len(written) and runtime.deliverer.pending() == 0
        return _effects(runtime.store)
    finally:
        for source in sources:
            source.close()
        runtime.close()


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.id)
def test_sigkill_at_random_points_loses_nothing_duplicates_nothing_and_changes_no_effect(
    request: pytest.FixtureRequest, variant: Variant, tmp_path: Path, corpus_files: list[Path],
    smtp_sink: SmtpSink, webhook_sink: WebhookSink,  # noqa: F811
) -> None:
    if variant.source == "imap":
        server = request.getfixturevalue("dovecot")
        box: Box = ImapBox(server, server.add_user())
    else:
        box = MaildirBox(tmp_path / "box", tmp_path / "quarantine")
    db_url = cluster().create_database() if variant.database == "postgresql" else f"sqlite:///{tmp_path / 'var' / 'rm.db'}"
    config = _config(tmp_path / "rm.toml", box.source(), db_url, smtp_sink, webhook_sink)
    written = box.add(returned_mail(corpus_files, variant.messages, POISON_EVERY), 0)
    store = open_store(load_settings(config))
    rng = random.Random(int(os.environ.get("RM_CRASH_SEED", "20")))
    kills = _kill_rounds(variant, config, box, corpus_files, written, rng)
    assert len(kills) == variant.rounds
    total = len(written)
    if variant.command == "once":
        _finish_once(config)
    else:
        _finish_running(config, box, store, total)
    poisons = sum(1 for w in written if not w.strip())
    assert box.counts() == {"pending": 0, "processed": total - poisons, "quarantined": poisons}

    with store.reader() as s:
        counts = source_counts(s)["returns"]
        rows = s.execute(select(RawMessageRow.sha256, RawMessageRow.path)).all()
        verdicts = s.execute(select(func.count()).select_from(MessageVerdict)).scalar_one()
        per_verdict = s.execute(
            select(RecipientVerdictRow.verdict_id, func.count(), func.max(RecipientVerdictRow.position))
            .group_by(RecipientVerdictRow.verdict_id)
        ).all()
        undelivered = s.execute(select(func.count()).select_from(OutboxItem).where(OutboxItem.state != "done")).scalar_one()
        sent = s.execute(select(func.count()).select_from(ActionTaken).where(ActionTaken.status == "sent")).scalar_one()
        forward_ids = {json.loads(p)["message_id"] for p in s.execute(
            select(OutboxItem.payload).where(OutboxItem.kind == "forward")).scalars()}
    assert (counts["processed"], counts["quarantined"]) == (total - poisons, poisons)
    assert sorted(r.sha256 for r in rows) == sorted(hashlib.sha256(w).hexdigest() for w in written)  # none lost, none twice
    assert all(hashlib.sha256(store.raw_files.read(path)).hexdigest() == sha for sha, path in rows)  # bytes kept
    assert verdicts == total
    # Recipient rows: positions 0..n-1 once each per verdict (UNIQUE(verdict_id, position) forbids a second copy).
    assert per_verdict and all(count == last + 1 for _v, count, last in per_verdict)
    crashed = _effects(store)
    assert undelivered == 0 and sent == sum(crashed["outbox"].values())

    # Effects at the receiving side: each delivered; a re-send (at most one per kill and worker) carries the first
    # Message-ID.
    assert len(forward_ids) == crashed["outbox"]["forward"] > 0
    assert set(smtp_sink.ids) == forward_ids
    assert webhook_sink.distinct == crashed["outbox"]["webhook"] > 0
    resent = (smtp_sink.received - smtp_sink.distinct) + (webhook_sink.received - webhook_sink.distinct)
    print(f"\ncrash test {variant.id}: {total} messages, {len(kills)} SIGKILLs mid-drain at {kills}; "
          f"{smtp_sink.received} forwards received ({smtp_sink.distinct} distinct), {webhook_sink.received} webhooks "
          f"({webhook_sink.distinct} distinct); {sum(crashed['suppressed'].values())} suppressions")
    # Every worker process of the run delivers effects, so one kill can cut a send short in each of them.
    assert resent <= len(kills) * default_workers(), "more re-sends than kills cut sends short: a duplicate no crash explains"

    # Each message's prunes, score changes and suppressions counted once: the same as a clean drain's.
    clean = _clean_drain(tmp_path / "clean", written, smtp_sink, webhook_sink)
    assert crashed["actions"] == clean["actions"]
    assert set(crashed["actions"].values()) == {1}
    assert crashed["outbox"] == clean["outbox"] and crashed["reviews"] == clean["reviews"]
    assert crashed["suppressed"] == clean["suppressed"] and set(crashed["suppressed"].values()) == {1}
    statuses = {key: status for key, (status, _score) in crashed["subscribers"].items()}
    assert statuses == {key: status for key, (status, _score) in clean["subscribers"].items()}
    assert sum(1 for s in statuses.values() if s == "pruned") > 0
    # A score is the sum of the weights its messages added, each once; for an address that stayed
    # mailable every bounce counted, so crash and clean drains agree on it exactly.
    for key, (status, score) in crashed["subscribers"].items():
        assert score == pytest.approx(crashed["done_scores"].get(key, 0.0)), key
        if status not in NOT_MAILABLE:
            assert score == pytest.approx(clean["subscribers"][key][1]), key
    assert any(score > 0 for _status, score in crashed["subscribers"].values())
    store.close()
