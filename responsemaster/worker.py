"""The worker: fetch -> classify -> record + route in one transaction -> commit -> ack.

Mailman's runner contract: a message is either committed whole (raw row,
verdict, recipient verdicts, actions, outbox, review item) or not at all,
and only a committed message is acknowledged to its source. A message whose
verdict carries an error is recorded and quarantined whole with its reason;
an exception while handling one message is logged on the source and the
batch moves on to the next message.

Exactly-once, the database side: UNIQUE(source, key) on ``raw_messages``
(a replay after a crash, or a second worker, finds the row and just acks);
a lease per message in ``message_claims`` so workers sharing a source do not
classify the same message in parallel, with an attempt count that
quarantines a message that keeps failing instead of retrying it forever.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy.exc import IntegrityError

from responsemaster.ingest.source import RawMessage, Source
from responsemaster.routing.outbox import OutboxDeliverer
from responsemaster.routing.router import Router
from responsemaster.store import claims
from responsemaster.store.database import Store
from responsemaster.store.recording import find_recorded, find_recorded_many, record_message
from responsemaster.verdict import Verdict

logger = logging.getLogger("responsemaster.worker")


@dataclass
class WorkerOptions:
    batch_size: int = 100
    #: Seconds a worker holds a message before another may take it over.
    lease_seconds: float = 300.0
    #: Claims of one message (each one a worker that took it and did not finish) before quarantine.
    max_attempts: int = 10
    #: Flush kept raw copies to disk (one syncfs per batch) before the batch commits.
    sync_kept_files: bool = True


@dataclass
class BatchResult:
    source: str
    fetched: int = 0
    processed: int = 0
    duplicates: int = 0
    quarantined: int = 0
    failed: int = 0
    skipped: int = 0
    delivered: int = 0
    seconds: float = 0.0
    categories: Counter[str] = field(default_factory=Counter)

    @property
    def done(self) -> int:
        return self.processed + self.duplicates + self.quarantined


def worker_id() -> str:
    return f"{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:6]}"


@dataclass
class _Prepared:
    msg: RawMessage
    verdict: Verdict | None = None
    path: str = ""
    reason: str | None = None
    #: Set when the message was already recorded (a replay): its state and error then.
    recorded: tuple[str, str | None] | None = None


def process_batch(
    source: Source,
    classifier: object,
    store: Store,
    router: Router,
    *,
    options: WorkerOptions | None = None,
    owner: str | None = None,
    deliverer: OutboxDeliverer | None = None,
) -> BatchResult:
    """One batch from ``source``: every message ends committed + acked, quarantined, or untouched."""
    options = options or WorkerOptions()
    owner = owner or worker_id()
    started = time.monotonic()
    result = BatchResult(source.name)
    messages = source.fetch(options.batch_size)
    result.fetched = len(messages)
    if not messages:
        return result
    attempts = _claim(store, source.name, messages, owner, options)
    with store.reader() as session:
        recorded = find_recorded_many(session, source.name, messages)
    prepared: list[_Prepared | None] = []
    for msg in messages:
        try:
            prepared.append(_prepare(store, msg, classifier, attempts, recorded.get(msg.key), options, result))
        except Exception as exc:  # noqa: BLE001 - one message must never block the next
            _failed(store, source.name, msg.key, owner, exc, result)
    if options.sync_kept_files:
        store.raw_files.sync()  # one flush for the whole batch, before any commit names the files
    outbox_ids: list[int] = []
    for item in prepared:
        if item is None:
            continue
        try:
            outbox_ids.extend(_commit(store, router, source, item, result))
        except Exception as exc:  # noqa: BLE001 - one message must never block the next
            _failed(store, source.name, item.msg.key, owner, exc, result)
    flush = getattr(source, "flush", None)  # sources that gather acks (IMAP) send them now
    if flush is not None:
        flush()
    if deliverer is not None and outbox_ids:
        result.delivered = deliverer.deliver_due(ids=outbox_ids)
    with store.transaction() as session:
        claims.note_batch(session, source.name)
    result.seconds = time.monotonic() - started
    return result


def _claim(store: Store, name: str, messages: list[RawMessage], owner: str, options: WorkerOptions) -> dict[str, int]:
    with store.transaction() as session:
        return claims.claim(session, name, [m.key for m in messages], owner, options.lease_seconds)


def _prepare(
    store: Store,
    msg: RawMessage,
    classifier: object,
    attempts: dict[str, int],
    recorded: tuple[str, str | None] | None,
    options: WorkerOptions,
    result: BatchResult,
) -> _Prepared | None:
    """Classify and keep the bytes (no transaction yet); None when another worker holds it."""
    if msg.key not in attempts:
        result.skipped += 1
        return None
    item = _Prepared(msg, recorded=recorded)
    if recorded is not None:
        return item  # already recorded: only the source has to be told again
    if attempts[msg.key] > options.max_attempts:
        item.reason = f"gave up after {attempts[msg.key] - 1} attempts: {_last_error(store, msg)}"
        item.verdict = Verdict("user_reply", 0.0, "error", "reply", error=item.reason)
    else:
        item.verdict = classifier.classify(msg.raw)  # type: ignore[attr-defined]
        if item.verdict.error:
            item.reason = item.verdict.error
    item.path = store.raw_files.keep(msg.raw, msg.sha256)
    return item


def _last_error(store: Store, msg: RawMessage) -> str:
    from responsemaster.store.actions import MessageClaim

    with store.reader() as session:
        claim = session.get(MessageClaim, (msg.source, msg.key))
        return (claim.last_error if claim is not None else "") or "the worker died while handling it"


def _commit(store: Store, router: Router, source: Source, item: _Prepared, result: BatchResult) -> list[int]:
    """The one transaction for one message, then the ack (or quarantine) to the source."""
    msg = item.msg
    outbox: list[int] = []
    if item.recorded is not None:
        _tell_source_again(source, msg.key, *item.recorded)
        result.duplicates += 1
        return outbox
    try:
        with store.transaction() as session:
            row, verdict_row = record_message(session, msg, item.verdict, item.path, item.reason)
            if item.reason is None:
                outbox = router.route(session, row, verdict_row, item.verdict, msg.raw).outbox_ids
    except IntegrityError:
        with store.reader() as session:
            row = find_recorded(session, msg.source, msg.key, msg.sha256)
            if row is None:
                raise
        result.duplicates += 1  # another worker committed it first
        _tell_source_again(source, msg.key, row.state, row.error)
        return []
    if item.reason is not None:
        source.quarantine(msg.key, item.reason)
        result.quarantined += 1
        with store.transaction() as session:
            claims.note_error(session, msg.source, f"{msg.key}: quarantined: {item.reason}")
    else:
        source.ack(msg.key)
        result.processed += 1
        result.categories[item.verdict.category] += 1
    return outbox


def _tell_source_again(source: Source, key: str, state: str, error: str | None) -> None:
    """A replay after a crash between commit and ack: repeat the ack (or the quarantine)."""
    if state == "quarantined":
        source.quarantine(key, error or "quarantined")
    else:
        source.ack(key)


def _failed(store: Store, source: str, key: str, owner: str, exc: Exception, result: BatchResult) -> None:
    result.failed += 1
    logger.error("%s: %s failed: %s: %s", source, key, type(exc).__name__, exc, exc_info=exc)
    _note_failure(store, source, key, owner, f"{key}: {type(exc).__name__}: {exc}")


def _note_failure(store: Store, source: str, key: str, owner: str, error: str) -> None:
    try:
        with store.transaction() as session:
            claims.release(session, source, key, owner, error)
            claims.note_error(session, source, error)
    except Exception:
        logger.exception("%s: cannot record the failure of %s", source, key)


def drain(
    source: Source,
    classifier: object,
    store: Store,
    router: Router,
    deliverer: OutboxDeliverer,
    options: WorkerOptions,
    owner: str,
    on_batch: object | None = None,
) -> BatchResult:
    """Batches until the source has nothing fetchable; the totals."""
    total = BatchResult(source.name)
    while True:
        batch = process_batch(source, classifier, store, router, options=options, owner=owner, deliverer=deliverer)
        if on_batch is not None:
            on_batch(batch)  # type: ignore[operator]
        merge_results(total, batch)
        if batch.fetched == 0 or batch.done == 0 and batch.failed == 0:
            return total


def merge_results(total: BatchResult, batch: BatchResult) -> None:
    """Add a batch's counts to a running total."""
    for name in ("fetched", "processed", "duplicates", "quarantined", "failed", "skipped", "delivered", "seconds"):
        setattr(total, name, getattr(total, name) + getattr(batch, name))
    total.categories.update(batch.categories)
