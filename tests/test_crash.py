"""Crash safety: SIGKILL the worker at random points of a drain, restart, and count.

A few thousand real corpus messages (unique Message-IDs) in a Maildir; the
worker (``responsemaster run --once``, the real command) is killed with
SIGKILL after a random delay, 20 times, then allowed to finish. At the end:
every message processed exactly once (one raw row, one verdict, the
recipient rows of its verdict once each, none left in the inbox or
claimed), every forward and webhook delivered, and none counted twice at the
local SMTP and HTTP sinks beyond what the documented guarantee allows.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from fixtures.sinks import SmtpSink, WebhookSink, smtp_sink, webhook_sink  # noqa: F401 - fixtures
from fixtures.worker_setup import cli, fill_maildir, maildir_counts, write_config
from sqlalchemy import func, select

from responsemaster.config import load_settings
from responsemaster.store import open_store
from responsemaster.store.actions import ActionTaken, OutboxItem
from responsemaster.store.messages import MessageVerdict, RawMessageRow, RecipientVerdictRow

MESSAGES = int(os.environ.get("RM_CRASH_MESSAGES", "2000"))
ROUNDS = int(os.environ.get("RM_CRASH_ROUNDS", "20"))
POISON_EVERY = 500
REFILL, REFILL_BELOW = 500, 300


def _config(tmp_path: Path, box: Path, smtp: SmtpSink, hook: WebhookSink) -> Path:
    return write_config(
        tmp_path / "rm.toml", box, f"sqlite:///{tmp_path / 'var' / 'rm.db'}",
        sources=[{"name": "returns", "type": "maildir", "path": str(box), "lease_seconds": 2,
                  "errors_folder": str(tmp_path / "quarantine")}],
        worker={"batch_size": 50, "lease_seconds": 2, "settle_seconds": 8},
        routing={
            "forward_to": "support@example.net",
            "max_forwards_per_sender": 100_000,
            "smtp": {"port": smtp.port, "timeout": 2},
            "webhook": {"url": hook.url, "timeout": 2},
            "outbox": {"lease_seconds": 3, "backoff_seconds": 0.5},
            "categories": {"user_reply": {"actions": ["log", "reset_score", "forward", "review", "webhook"]},
                           "hard_bounce": {"actions": ["log", "prune", "webhook"]}},
        },
    )


def _kill_rounds(config: Path, box: Path, corpus: list[Path], written: list[bytes], rng: random.Random) -> list[float]:
    """SIGKILL a fresh ``run --once`` after a random delay until ROUNDS kills hit it mid-drain.

    A fast machine could drain the box before ROUNDS kills: then more
    messages are added (same recipe, new sequence numbers), so every counted
    kill interrupts real work.
    """
    kills: list[float] = []
    rounds = 0
    while len(kills) < ROUNDS and rounds < ROUNDS * 3:
        rounds += 1
        if maildir_counts(box)["inbox"] < REFILL_BELOW:
            written += fill_maildir(box, corpus, REFILL, poison_every=POISON_EVERY, start=len(written))
        proc = subprocess.Popen([sys.executable, "-m", "responsemaster", "run", "--once", "--config", str(config)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        delay = rng.uniform(0.4, 3.0)
        time.sleep(delay)
        counts = maildir_counts(box)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            if counts["inbox"] + counts["claimed"]:
                kills.append(round(delay, 2))
        proc.wait()
    return kills


def _finish(config: Path) -> dict:  # type: ignore[type-arg]
    for _ in range(5):
        run = cli("run", "--once", "--config", str(config), timeout=600)
        assert run.returncode == 0, run.stderr[-3000:]
        status = json.loads(cli("status", "--json", "--config", str(config)).stdout)["sources"][0]
        if status["pending"] == 0:
            return status
    raise AssertionError(f"the inbox never drained: {status}")


def test_sigkill_at_random_points_loses_nothing_and_duplicates_nothing(
    tmp_path: Path, corpus_files: list[Path], smtp_sink: SmtpSink, webhook_sink: WebhookSink  # noqa: F811
) -> None:
    box = tmp_path / "box"
    written = fill_maildir(box, corpus_files, MESSAGES, poison_every=POISON_EVERY)
    config = _config(tmp_path, box, smtp_sink, webhook_sink)
    rng = random.Random(int(os.environ.get("RM_CRASH_SEED", "20")))
    kills = _kill_rounds(config, box, corpus_files, written, rng)
    assert len(kills) >= ROUNDS, f"only {len(kills)} kills hit the worker mid-drain"
    status = _finish(config)
    total = len(written)
    poisons = sum(1 for w in written if not w.strip())
    assert (status["processed"], status["quarantined"]) == (total - poisons, poisons)
    assert maildir_counts(box) == {"inbox": 0, "claimed": 0, "processed": total - poisons}
    assert len(list((tmp_path / "quarantine" / "cur").iterdir())) == poisons

    store = open_store(load_settings(config))
    with store.reader() as s:
        rows = s.execute(select(RawMessageRow.sha256, RawMessageRow.path)).all()
        verdicts = s.execute(select(func.count()).select_from(MessageVerdict)).scalar_one()
        per_verdict = s.execute(
            select(RecipientVerdictRow.verdict_id, func.count(), func.max(RecipientVerdictRow.position))
            .group_by(RecipientVerdictRow.verdict_id)
        ).all()
        outbox = dict(s.execute(select(OutboxItem.kind, func.count()).group_by(OutboxItem.kind)).all())
        undelivered = s.execute(select(func.count()).select_from(OutboxItem).where(OutboxItem.state != "done")).scalar_one()
        sent = s.execute(select(func.count()).select_from(ActionTaken).where(ActionTaken.status == "sent")).scalar_one()
    assert sorted(r.sha256 for r in rows) == sorted(hashlib.sha256(w).hexdigest() for w in written)  # none lost, none twice
    assert all(hashlib.sha256(store.raw_files.read(path)).hexdigest() == sha for sha, path in rows)  # bytes kept
    assert verdicts == total
    # Recipient rows: positions 0..n-1 once each per verdict (UNIQUE(verdict_id, position) forbids a second copy).
    assert per_verdict and all(count == last + 1 for _v, count, last in per_verdict)
    assert undelivered == 0 and sent == sum(outbox.values())

    # Effects: each delivered, and the receiving side sees no second copy of any id.
    assert smtp_sink.distinct == outbox.get("forward", 0) > 0
    assert webhook_sink.distinct == outbox.get("webhook", 0) > 0
    resent = (smtp_sink.received - smtp_sink.distinct) + (webhook_sink.received - webhook_sink.distinct)
    print(f"\ncrash test: {total} messages, {len(kills)} SIGKILLs mid-drain at {kills}; {smtp_sink.received} forwards received "
          f"({smtp_sink.distinct} distinct), {webhook_sink.received} webhooks ({webhook_sink.distinct} distinct)")
    assert resent <= len(kills), "more re-sends than kills: a duplicate that no crash explains"
    store.close()
