"""Recording a batch (group commit): the worker's one transaction per batch.

First the whole batch in bulk: raw rows, verdicts and recipients one INSERT
per table, the subscribers read in one query, the routing's rows buffered
and written at the end (routing.pending), the per-day counts once per batch.
If anything fails before the commit, nothing of it was written, and the batch
is recorded again: whole, after a deadlock (nobody's fault), else message by
message, each under its own SAVEPOINT, so a failing message is rolled back
alone while the others commit. On PostgreSQL every recording transaction
first takes advisory locks on the batch's bytes and addresses, in one order
for all workers (:func:`_lock_for_recording`). The kept raw copies are
flushed to disk while this runs, and the commit waits for it.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session

from responsemaster.categories import REPORTED_BY_A_SYSTEM
from responsemaster.collector import paused
from responsemaster.ingest.source import RawMessage
from responsemaster.routing.context import Target, forget_subscribers, preload_subscribers
from responsemaster.routing.pending import begin_batch, finish_batch
from responsemaster.routing.router import Router, targets_of
from responsemaster.store.base import address_key
from responsemaster.store.database import Store
from responsemaster.store.recording import (
    ToRecord,
    concerned_address,
    find_recorded,
    find_recorded_many,
    record_message,
    record_messages,
)
from responsemaster.verdict import Verdict

logger = logging.getLogger("responsemaster.worker")


@dataclass
class Prepared:
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
    #: An earlier message of the batch with the same bytes (this one is not recorded again).
    twin_of: Prepared | None = None


class SyncInBackground:
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


def record_batch(
    store: Store, router: Router, prepared: list[Prepared], syncing: SyncInBackground | None, bulk: bool = True
) -> tuple[list[int], list[str]]:
    """Group commit: the batch in one transaction, recorded in bulk, else one savepoint per message.

    First the whole batch with a few statements per table
    (:func:`_record_whole`; again, after a deadlock). If anything else fails before the commit, nothing
    of it was written: the batch is recorded again message by message, each
    under its own SAVEPOINT, so a failing message is rolled back alone
    (``failure`` set) and the others commit. A message another worker
    committed first fails on UNIQUE(source, key) inside its savepoint and
    becomes a replay. A deadlock with another worker's batch (PostgreSQL)
    ends the transaction early: what came before commits, releasing its
    locks, and the rest is recorded in a new transaction. Nothing is
    acknowledged before this returns: a crash anywhere in here leaves every
    message not yet committed unrecorded and in its source.
    Returns the outbox ids and the errors of the messages quarantined now.
    """
    todo = [item for item in prepared if item.recorded is None]
    if store.engine.dialect.name == "postgresql":
        # One order for every worker (by what the verdict counters and subscriber rows lock), so two
        # batches running at once rarely take the same row locks in opposite orders. SQLite has one
        # writer at a time: nothing to order (the sort's keys were 2% of the worker's own CPU).
        todo.sort(key=_lock_order)
    outbox: list[int] = []
    if bulk and len(todo) > 1:
        outbox, todo = _record_whole(store, router, todo, syncing)
    while todo:
        done: list[Prepared] = []
        ids: list[int] = []
        try:
            with store.transaction() as session:
                _lock_for_recording(session, todo)
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


def _record_whole(
    store: Store, router: Router, todo: list[Prepared], syncing: SyncInBackground | None
) -> tuple[list[int], list[Prepared]]:
    """The batch in bulk: (outbox ids, what is left to record message by message).

    A deadlock (or another transient refusal) is no message's fault: the
    batch is recorded whole again, after a short random pause, up to
    :data:`_MAX_TRIES` times. Any other failure before the commit leaves the
    whole batch to the message-by-message path. A failed commit fails every
    message of the batch (nothing of it was written; they are tried again later).
    """
    for attempt in range(1, _MAX_TRIES + 1):
        try:
            written = _record_in_bulk(store, router, todo, syncing)
        except Exception as exc:  # noqa: BLE001 - the commit failed: nothing of the batch was written
            for item in todo:
                item.failure = exc
            return [], []
        if not isinstance(written, Exception):
            return written, []
        retry = _transient(written) and attempt < _MAX_TRIES
        logger.info("batch of %d %s: %s: %s", len(todo),
                    "recorded whole again" if retry else "recorded message by message", type(written).__name__, written)
        if not retry:
            break
        time.sleep(random.uniform(0, _PAUSE * attempt))  # two batches that deadlocked must not meet again at once
    return [], todo


class _OneByOne(Exception):
    """Recording the batch whole failed before its commit (so nothing was written)."""


def _record_in_bulk(
    store: Store, router: Router, todo: list[Prepared], syncing: SyncInBackground | None
) -> list[int] | Exception:
    """The batch in one transaction, a few statements per table; the outbox ids.

    The exception when recording failed (a message's routing raised, a
    constraint, a deadlock): rolled back, nothing written. An error of the
    commit itself (or of the kept files' sync) is raised.
    """
    try:
        with paused(), store.transaction() as session:  # the batch's rows live until the commit: nothing to collect
            try:
                outbox = _write_in_bulk(session, router, todo)
            except Exception as exc:
                raise _OneByOne from exc
            if syncing is not None:
                syncing.wait()
    except _OneByOne as exc:
        return exc.__cause__  # type: ignore[return-value]
    return outbox


def _write_in_bulk(session: Session, router: Router, todo: list[Prepared]) -> list[int]:
    """Raw rows, verdicts, recipients: one INSERT per table; subscribers read in one query;
    the routing's rows buffered and written at the end (routing.pending)."""
    _lock_for_recording(session, todo)
    todo = _not_recorded_meanwhile(session, todo)
    begin_batch(session)
    # Each routed verdict's targets, found once: for the look-up of their subscribers and for routing.
    targets = [targets_of(item.verdict) if item.reason is None and item.verdict else [] for item in todo]
    preload_subscribers(session, [address for item, found in zip(todo, targets) if item.reason is None
                                  for address in _addresses(item.verdict, found)])
    items = [ToRecord(item.msg, item.verdict, item.path, item.reason) for item in todo]  # type: ignore[arg-type]
    rows = record_messages(session, items)
    for item, found, (row, verdict_row) in zip(todo, targets, rows):
        if item.reason is None:
            router.route(session, row, verdict_row, item.verdict, item.msg.raw, fresh=True, targets=found)
    return finish_batch(session)


def _addresses(verdict: Verdict | None, targets: list[Target]) -> list[str]:
    """The addresses routing may look up for this verdict: its targets and its sender."""
    if verdict is None:
        return []
    return [target.address for target in targets] + [verdict.sender]


_RETRY = "retry"
#: Deadlock, serialization failure, lock not available: worth another try in a new transaction.
_TRANSIENT = frozenset({"40P01", "40001", "55P03"})
_MAX_TRIES = 3
#: Seconds: the longest random pause before the first retry of a whole batch (twice that before the second).
_PAUSE = 0.05
#: The first key of PostgreSQL's two-key advisory locks on addresses (:func:`_lock_for_recording`):
#: two-key locks are a key space apart from the one-key locks on messages' bytes.
ADDRESS_LOCKS = 0x524D
_LOCK_BYTES = text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k")
_LOCK_ADDRESSES = text("SELECT pg_advisory_xact_lock(:space, k) FROM unnest(CAST(:keys AS integer[])) AS k")


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in _TRANSIENT


#: SQLite's "busy" and "locked": another connection held the write lock past the busy timeout.
_SQLITE_BUSY = frozenset({5, 6})


def passing_fault(exc: BaseException) -> bool:
    """Whether ``exc`` is a fault of the moment, not of the message: a deadlock or lock conflict, a
    lost connection (PostgreSQL's class 08, a server shutting down: 57P0x), SQLite busy.

    The worker tries such a message again before its drain ends. Anything
    else (a bug, a full disk, a refused constraint) waits for its lease to
    end as before: retried at once, it would spend its attempts in seconds
    and be quarantined for an outage the operator has not fixed yet.
    """
    if not isinstance(exc, DBAPIError):
        return False
    state = getattr(exc.orig, "sqlstate", None) or ""
    return (_transient(exc) or exc.connection_invalidated or state.startswith(("08", "57P0"))
            or getattr(exc.orig, "sqlite_errorcode", None) in _SQLITE_BUSY)


def _lock_for_recording(session: Session, todo: list[Prepared]) -> None:
    """PostgreSQL: first in every recording transaction, the locks all workers take in one order.

    Each message's bytes first (a transaction-scoped advisory lock on its
    sha256: see :func:`_not_recorded_meanwhile`), then every address the
    batch may route (its targets and senders, whose subscriber and
    suppression rows routing locks or inserts: :func:`_routed`), each family in ascending
    key order (``unnest`` keeps the array's order). Row locks taken message
    by message, in each batch's own order, deadlocked when six workers
    shared addresses, and a message whose three tries all deadlocked was
    left unrecorded; with every worker queueing on the same keys in the
    same order first, two batches that share an address run one after the
    other. SQLite has one writer at a time (BEGIN IMMEDIATE): nothing to order.
    """
    if not todo or session.get_bind().dialect.name != "postgresql":
        return
    shas = sorted({int(item.msg.sha256[:15], 16) for item in todo})
    session.execute(_LOCK_BYTES, {"keys": shas})
    keys = sorted({address_lock_key(a) for item in todo if item.reason is None for a in _routed(item.verdict) if a})
    if keys:
        session.execute(_LOCK_ADDRESSES, {"space": ADDRESS_LOCKS, "keys": keys})


def _routed(verdict: Verdict | None) -> list[str]:
    """The addresses whose rows routing may lock or insert for ``verdict``: its targets, and its sender
    unless a system sent it (a bounce's MAILER-DAEMON is in most batches: locking it would queue every
    worker behind every other)."""
    if verdict is None:
        return []
    targets = [target.address for target in targets_of(verdict)]
    return targets if verdict.category in REPORTED_BY_A_SYSTEM else [*targets, verdict.sender]


def address_lock_key(address: str) -> int:
    """The second key of an address's advisory lock: 32 bits of a hash of its normal form."""
    digest = hashlib.blake2b(address_key(address).encode("utf-8", "surrogatepass"), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


def _lock_order(item: Prepared) -> tuple[str, ...]:
    verdict = item.verdict
    if verdict is None:
        return ("",)
    return (verdict.category or "", verdict.reason, concerned_address(verdict).lower(), verdict.attribution.campaign)


def _record_one(session: Session, router: Router, item: Prepared, outbox: list[int]) -> str:
    """One message inside the batch transaction, under its own savepoint.

    Returns ``_RETRY`` when the transaction should commit now and this
    message be tried again in the next one (a deadlock victim).
    """
    msg = item.msg
    try:
        with session.begin_nested():
            if not _not_recorded_meanwhile(session, [item]):
                return ""
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
        if _transient(exc) and item.tries < _MAX_TRIES:
            return _RETRY
        item.failure = exc
    except Exception as exc:  # noqa: BLE001 - one message must never block the next
        _forget(session)
        item.failure = exc
    return ""


def _not_recorded_meanwhile(session: Session, todo: list[Prepared]) -> list[Prepared]:
    """Inside the recording transaction: hold each message's bytes, and leave out those recorded since
    the batch looked (their ``recorded`` set: they become replays).

    Two workers may hold copies of the same bytes under two keys (a sender
    sending again after a 250 it never saw): both looked before classifying
    and found nothing. Only one may record them. On SQLite the transaction is
    the only writer (BEGIN IMMEDIATE); on PostgreSQL the transaction holds
    an advisory lock per sha256 (:func:`_lock_for_recording`, taken first),
    so the second waits for the first's commit and then sees its row.
    """
    # By bytes only: a message recorded under its own key meanwhile (its lease ran out and another
    # worker took it) has the same bytes, and UNIQUE (source, key) stops the rare other case (new
    # bytes under a recorded key): the batch fails whole and is recorded message by message.
    found = find_recorded_many(session, todo[0].msg.source, [item.msg for item in todo], by_key=False) if todo else {}
    for item in todo:
        if item.msg.key in found:
            item.recorded = found[item.msg.key]
    return [item for item in todo if item.recorded is None]


def _forget(session: Session) -> None:
    """After a savepoint rollback: rows the session holds may be gone, so read them again."""
    forget_subscribers(session)
    session.expunge_all()
