"""What the worker does with input it cannot classify: quarantine it whole, route nothing, count it.

Noise (random bytes, a text file, a licence) and a message the classifier
crashes on arrive in a real Maildir beside real replies, and are drained by
the real worker into SQLite and PostgreSQL. The crash is injected inside
the classifier (``Classifier._classify`` raises for one message), so the
product's own error path is what is tested: the failure verdict, not a
stand-in for it.
"""

from __future__ import annotations

import os
import random
import re
from pathlib import Path

import pytest
from fixtures.api_setup import build_env
from fixtures.sinks import SmtpSink, smtp_sink  # noqa: F401 - fixture
from fixtures.store_backends import db_url, store  # noqa: F401 - fixtures
from fixtures.worker_setup import count_rows
from sqlalchemy import select

from responsemaster.classify.pipeline import Classifier
from responsemaster.config import Settings
from responsemaster.ingest.maildir_source import MaildirSource
from responsemaster.routing import OutboxDeliverer, Router, load_routing
from responsemaster.store import Store
from responsemaster.store.actions import OutboxItem
from responsemaster.store.messages import MessageVerdict, RawMessageRow, ReviewItem
from responsemaster.store.queries import iter_verdict_lines
from responsemaster.worker import WorkerOptions, drain

FAULT_MARK = b"X-Test-Fault: raise"


def _reply(n: int, extra: bytes = b"") -> bytes:
    return (b"From: Reader %d <reader%d@example.org>\r\nTo: news@example.com\r\nSubject: Re: our spring letter\r\n"
            b"Message-ID: <reply-%d@example.org>\r\n%s\r\nThank you, I will be there on Tuesday.\r\n" % (n, n, n, extra))


NOISE = {
    "random bytes": random.Random(7).randbytes(100_000),
    "a text file": b"hello\n",
    "a licence": b"Example Licence\n\nCopyright 2026 the authors.\n\nUse this as you like; no warranty.\n",
}


def _fill(box: Path) -> None:
    for sub in ("tmp", "new", "cur"):
        (box / sub).mkdir(parents=True, exist_ok=True)
    items = [_reply(1), _reply(2), _reply(3), _reply(4, FAULT_MARK + b"\r\n"), *NOISE.values()]
    for n, raw in enumerate(items):
        name = f"{1_700_000_000 + n}.M{n}P1.test"
        (box / "tmp" / name).write_bytes(raw)
        os.rename(box / "tmp" / name, box / "new" / name)


@pytest.fixture
def crash_on_mark(monkeypatch: pytest.MonkeyPatch) -> None:
    """The classifier's internals raise for the marked message (a bug in a detector, say)."""
    real = Classifier._classify

    def faulty(self: Classifier, raw: bytes):  # type: ignore[no-untyped-def]
        if FAULT_MARK in raw:
            raise RuntimeError("injected fault in a detector")
        return real(self, raw)

    monkeypatch.setattr(Classifier, "_classify", faulty)


def test_noise_and_a_crash_are_quarantined_whole_never_routed_and_counted(
    store: Store, classifier: Classifier, crash_on_mark: None, smtp_sink: SmtpSink, tmp_path: Path  # noqa: F811
) -> None:
    box = tmp_path / "box"
    _fill(box)
    settings = Settings(base_dir=tmp_path, sections={"routing": {
        "forward_to": "support@example.net", "smtp": {"port": smtp_sink.port, "timeout": 5}}})
    router = Router(load_routing(settings), store.var)
    source = MaildirSource("returns", box, quarantine=tmp_path / "quarantine")
    total = drain(source, classifier, store, router, OutboxDeliverer(store, router.config, "w1"),
                  WorkerOptions(batch_size=10), "w1")
    assert (total.processed, total.quarantined, total.failed) == (3, 4, 0)
    assert dict(total.categories) == {"user_reply": 3}

    # Quarantined whole, with the reason: the kept bytes are the noise and the crashed reply, exactly.
    kept = sorted(p.read_bytes() for p in (tmp_path / "quarantine" / "cur").iterdir())
    assert kept == sorted([_reply(4, FAULT_MARK + b"\r\n"), *NOISE.values()])
    with store.reader() as s:
        failed = s.execute(select(RawMessageRow.id, RawMessageRow.error, MessageVerdict.category, MessageVerdict.reason)
                           .join(MessageVerdict, MessageVerdict.message_id == RawMessageRow.id)
                           .where(RawMessageRow.state == "quarantined")).all()
        processed = set(s.execute(select(RawMessageRow.id).where(RawMessageRow.state == "processed")).scalars())
        reviewed = set(s.execute(select(ReviewItem.message_id)).scalars())
    kinds = sorted(reason for _id, _error, _category, reason in failed)
    assert kinds == ["classifier_error", "not_mail", "not_mail", "not_mail"]
    assert all(category == "" for _id, _error, category, _reason in failed)  # no category stored, none guessed
    errors = sorted(error for _id, error, _category, _reason in failed)
    assert errors[0] == "classifier failed: RuntimeError: injected fault in a detector"
    assert all(e.startswith("not mail: no header block") for e in errors[1:])

    # Never in the review queue, never forwarded: only the three replies are.
    assert reviewed == processed and len(processed) == 3
    assert count_rows(store, OutboxItem, kind="forward") == 3
    assert smtp_sink.received == 3
    forwarded = b"".join(smtp_sink.messages)
    assert all(b"reader%d@example.org" % n in forwarded for n in (1, 2, 3))
    assert b"reader4@example.org" not in forwarded and b"Example Licence" not in forwarded

    # The export says null, not a category.
    with store.reader() as s:
        lines = [line for line in iter_verdict_lines(s) if line["state"] == "quarantined"]
    assert len(lines) == 4 and all(line["category"] is None and line["error"] for line in lines)

    # /metrics counts them by why; the verdict counts do not (they are not hygiene facts).
    env = build_env(store, tmp_path / "api")
    with env.client:
        text = env.client.get("/metrics").text
    assert re.search(r'^responsemaster_unclassified_total\{kind="not_mail"\} 3$', text, re.M), text
    assert re.search(r'^responsemaster_unclassified_total\{kind="classifier_error"\} 1$', text, re.M), text
    assert re.search(r'^responsemaster_unclassified_total\{kind="gave_up"\} 0$', text, re.M), text
    verdict_lines = re.findall(r"^responsemaster_verdicts_total\{(.*)\} (\S+)$", text, re.M)
    assert verdict_lines == [('category="user_reply"', "3")], verdict_lines


def test_a_failure_verdict_routed_by_mistake_changes_nothing(store: Store, tmp_path: Path) -> None:  # noqa: F811
    """Defence in depth: the worker never routes a failure, and the router would do nothing with one."""
    from responsemaster.ingest.source import RawMessage
    from responsemaster.store.actions import ActionTaken
    from responsemaster.store.recording import record_message
    from responsemaster.verdict import NOT_MAIL, Verdict

    router = Router(load_routing(Settings(base_dir=tmp_path, sections={"routing": {"forward_to": "s@example.net"}})),
                    store.var)
    verdict = Verdict.failure(NOT_MAIL, "not mail: no header block")
    verdict.sender = "someone@example.org"  # even with an address to act on
    with store.transaction() as s:
        row, verdict_row = record_message(s, RawMessage("returns", "k1", b"hello\n"), verdict, "p", verdict.error)
        assert router.route(s, row, verdict_row, verdict, b"hello\n", fresh=True).outbox_ids == []
    assert count_rows(store, ActionTaken) == count_rows(store, OutboxItem) == count_rows(store, ReviewItem) == 0
    assert count_rows(store, MessageVerdict, category="") == 1
