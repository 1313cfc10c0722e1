"""The worker: fetch -> classify -> record + route (group commit) -> commit -> ack.

Mailman's runner contract: a message is either committed whole (raw row,
verdict, recipient verdicts, actions, outbox, review item) or not at all,
and only a committed message is acknowledged to its source. A message whose
verdict carries an error is recorded and quarantined whole with its reason;
an exception while handling one message is logged on the source and the
batch moves on to the next message.

Group commit: a batch is one transaction and each message a SAVEPOINT inside
it, so a failing message is rolled back alone while the others commit, and
the batch pays for one COMMIT (one WAL sync, one round trip) instead of one
per message. Acks and quarantines are sent only after that COMMIT returned.

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
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session

from responsemaster.ingest.source import RawMessage, Source
from responsemaster.routing.context import forget_subscribers
from responsemaster.routing.outbox import OutboxDeliverer
from responsemaster.routing.router import Router
from responsemaster.store import claims
from responsemaster.store.database import Store
from responsemaster.store.recording import concerned_address, find_recorded, find_recorded_many, record_message
from responsemaster.verdict import GAVE_UP, Verdict

logger = logging.getLogger("responsemaster.worker")


@dataclass
class WorkerOptions:
    batch_size: int = 200
    #: Seconds a worker holds a message before another may take it over.
    lease_seconds: float = 300.0
    #: Claims of one message (each one a worker that took it and did not finish) before quarantine.
    max_attempts: int = 10
    #: Make the batch's kept raw copies durable (RawFiles.sync: fsync per file) before the batch commits.
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
    #: Why recording it failed (its savepoint, or the whole batch, was rolled back).
    failure: Exception | None = None
    #: Transactions it was rolled back from by a deadlock.
    tries: int = 0


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
    prepared: list[_Prepared] = []
    for msg in messages:
        try:
            item = _prepare(store, msg, classifier, attempts, recorded.get(msg.key), options, result)
        except Exception as exc:  # noqa: BLE001 - one message must never block the next
            _failed(store, source.name, msg.key, owner, exc, result)
            continue
        if item is not None:
            prepared.append(item)
    # The kept copies are flushed to disk while the batch is recorded; the commit waits for it.
    syncing = _SyncInBackground(store) if options.sync_kept_files else None
    outbox_ids, quarantined = _record_batch(store, router, prepared, syncing)
    for item in prepared:
        try:
            if item.failure is not None:
                raise item.failure
            _tell_source(source, item, result)
        except Exception as exc:  # noqa: BLE001 - one message must never block the next
            _failed(store, source.name, item.msg.key, owner, exc, result)
    _note_quarantined(store, source.name, quarantined)
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
        item.verdict = Verdict.failure(GAVE_UP, item.reason)
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


class _SyncInBackground:
    """:meth:`RawFiles.sync` of the batch's kept raw files in a thread, overlapping its database work.

    The files must be durable before the commit that names them, not before
    the INSERTs: so the flush runs while the batch is recorded, and
    :meth:`wait` (called just before COMMIT) re-raises its error, if any.
    """

    def __init__(self, store: Store) -> None:
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(store,), name="rm-sync-kept", daemon=True)
        self.thread.start()

    def _run(self, store: Store) -> None:
        try:
            store.raw_files.sync()
        except BaseException as exc:  # noqa: BLE001 - handed to the committing thread
            self.error = exc

    def wait(self) -> None:
        self.thread.join()
        if self.error is not None:
            raise self.error


def _record_batch(
    store: Store, router: Router, prepared: list[_Prepared], syncing: _SyncInBackground | None
) -> tuple[list[int], list[str]]:
    """Group commit: one transaction for the batch, one SAVEPOINT per message.

    A message that fails is rolled back to its savepoint alone (``failure``
    set) and the others commit. A message another worker committed first
    fails on UNIQUE(source, key) inside its savepoint and becomes a replay.
    A deadlock with another worker's batch (PostgreSQL) ends the
    transaction early: what came before commits, releasing its locks, and
    the rest is recorded in a new transaction. Nothing is acknowledged
    before this returns: a crash anywhere in here leaves every message not
    yet committed unrecorded and in its source.
    Returns the outbox ids and the errors of the messages quarantined now.
    """
    # One order for every worker (by what the verdict counters and subscriber rows lock),
    # so two batches running at once rarely take the same row locks in opposite orders.
    todo = sorted((item for item in prepared if item.recorded is None), key=_lock_order)
    outbox: list[int] = []
    while todo:
        done: list[_Prepared] = []
        ids: list[int] = []
        try:
            with store.transaction() as session:
                for item in todo:
                    if _record_one(session, router, item, ids) == _RETRY:
                        break
                    done.append(item)
                if syncing is not None:
                    syncing.wait()
        except Exception as exc:  # noqa: BLE001 - the commit failed: nothing of this round was written
            for item in todo:
                if item.recorded is None:
                    item.failure = item.failure or exc
            break
        outbox.extend(ids)
        todo = todo[len(done):]
    if syncing is not None:
        syncing.thread.join()  # nothing was committed when there was nothing new: no error to raise
    quarantined = [item for item in prepared if item.failure is None and item.recorded is None and item.reason]
    return outbox, [f"{item.msg.key}: quarantined: {item.reason}" for item in quarantined]


_RETRY = "retry"
#: Deadlock, serialization failure, lock not available: worth another try in a new transaction.
_TRANSIENT = frozenset({"40P01", "40001", "55P03"})
_MAX_TRIES = 3


def _lock_order(item: _Prepared) -> tuple[str, ...]:
    verdict = item.verdict
    if verdict is None:
        return ("",)
    return (verdict.category or "", verdict.reason, concerned_address(verdict).lower(), verdict.attribution.campaign)


def _record_one(session: Session, router: Router, item: _Prepared, outbox: list[int]) -> str:
    """One message inside the batch transaction, under its own savepoint.

    Returns ``_RETRY`` when the transaction should commit now and this
    message be tried again in the next one (a deadlock victim).
    """
    msg = item.msg
    try:
        with session.begin_nested():
            row, verdict_row = record_message(session, msg, item.verdict, item.path, item.reason)
            if item.reason is None:
                outbox.extend(router.route(session, row, verdict_row, item.verdict, msg.raw, fresh=True).outbox_ids)
    except IntegrityError as exc:
        _forget(session)
        found = find_recorded(session, msg.source, msg.key, msg.sha256)
        if found is None:
            item.failure = exc
        else:
            item.recorded = (found.state, found.error)  # another worker committed it first
    except DBAPIError as exc:
        _forget(session)
        item.tries += 1
        if getattr(exc.orig, "sqlstate", None) in _TRANSIENT and item.tries < _MAX_TRIES:
            return _RETRY
        item.failure = exc
    except Exception as exc:  # noqa: BLE001 - one message must never block the next
        _forget(session)
        item.failure = exc
    return ""


def _forget(session: Session) -> None:
    """After a savepoint rollback: rows the session holds may be gone, so read them again."""
    forget_subscribers(session)
    session.expunge_all()


def _tell_source(source: Source, item: _Prepared, result: BatchResult) -> None:
    """After the commit: ack (or quarantine) what was recorded, repeat it for replays."""
    key = item.msg.key
    if item.recorded is not None:
        _tell_source_again(source, key, *item.recorded)
        result.duplicates += 1
    elif item.reason is not None:
        source.quarantine(key, item.reason)
        result.quarantined += 1
    else:
        source.ack(key)
        result.processed += 1
        result.categories[item.verdict.category] += 1  # type: ignore[union-attr]


def _note_quarantined(store: Store, source: str, errors: list[str]) -> None:
    """The source's last error, once for the batch (``status`` shows it)."""
    if not errors:
        return
    with store.transaction() as session:
        claims.note_error(session, source, errors[-1])


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
