"""The worker: fetch -> classify -> record + route (group commit) -> commit -> ack.

Mailman's runner contract: a message is either committed whole (raw row,
verdict, recipient verdicts, actions, outbox, review item) or not at all,
and only a committed message is acknowledged to its source. A message whose
verdict carries an error is recorded and quarantined whole with its reason;
an exception while handling one message is logged on the source and the
batch moves on to the next message.

Group commit (:mod:`responsemaster.worker_recording`): a batch is one
transaction, recorded in bulk (a few statements per table), and recorded
again message by message under a SAVEPOINT each when that fails, so a
failing message is rolled back alone while the others commit; the batch
pays for one COMMIT (one WAL sync, one round trip) instead of one per
message. Acks and quarantines are sent only after that COMMIT returned.

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

from responsemaster.cpu_deadline import CpuBudget, TooMuchCpu
from responsemaster.heap_trim import trim_heap
from responsemaster.ingest.source import RawMessage, Source
from responsemaster.routing.outbox import OutboxDeliverer
from responsemaster.routing.router import Router
from responsemaster.store import claims
from responsemaster.store.database import Store
from responsemaster.store.recording import find_recorded_many
from responsemaster.verdict import GAVE_UP, OVER_DEADLINE, Verdict
from responsemaster.worker_recording import Prepared, SyncInBackground, passing_fault, record_batch

logger = logging.getLogger("responsemaster.worker")

#: Messages asked of a source at once while a batch is gathered (:func:`gather`).
FETCH_STEP = 500
#: Messages asked for first, before anything is known of their sizes: a box of 25 MB messages
#: (bounces carrying their attachments back) then costs a worker about 1 GB, not 12.
FIRST_STEP = 50


@dataclass
class WorkerOptions:
    #: Messages per transaction: larger batches spread the per-batch work (claims, commit, directory
    #: fsyncs, every index page the batch's rows land on written once) over more messages. 500 -> 2,000:
    #: the worker's own CPU per message 0.29 -> 0.24 ms (Maildir -> SQLite, empty database) and
    #: 0.46 -> 0.33 (100,000 messages recorded before); two workers on Dovecot 678 -> 775 msg/s.
    #: 2,000 -> 5,000 (with the 32 MiB cache that holds such a batch's changed pages, store.engine):
    #: with 100,000 messages recorded, log frames a message 3.4 -> 1.7 (an index on a random key has
    #: about as many pages as a batch of 2,000 has rows, so most rows changed a page of their own).
    batch_size: int = 5000
    #: A batch stops growing once its messages hold this many MiB (memory stays bounded by it plus
    #: about one fetch: see :func:`gather`), however large the messages are.
    batch_megabytes: float = 64.0
    #: Seconds a worker holds a message before another may take it over.
    lease_seconds: float = 300.0
    #: Claims of one message (each one a worker that took it and did not finish) before quarantine.
    max_attempts: int = 10
    #: Make the batch's kept raw copies durable (RawFiles.sync: fsync per file) before the batch commits.
    sync_kept_files: bool = True
    #: CPU seconds one message's classification may use before it is quarantined (0: no limit).
    message_cpu_seconds: float = 10.0
    #: Record a batch with a few statements per table (False: message by message, each under its
    #: own savepoint: the path a batch falls back to when recording it whole fails).
    bulk: bool = True


@dataclass
class Outcome:
    """One message of a batch, for the line ``run`` prints about it."""

    key: str
    #: processed | quarantined
    state: str
    verdict: Verdict | None = None
    reason: str | None = None


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
    #: What became of each message of this batch, in order (not summed by merge_results).
    outcomes: list[Outcome] = field(default_factory=list)
    #: The keys of the messages that failed on a passing fault (not summed by merge_results).
    retry_keys: list[str] = field(default_factory=list)

    @property
    def done(self) -> int:
        return self.processed + self.duplicates + self.quarantined


def worker_id() -> str:
    return f"{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:6]}"


def _state_of(item: Prepared) -> tuple[str, str | None]:
    """What ``item`` became once its batch committed: (state, error) as the store has it."""
    if item.recorded is not None:
        return item.recorded
    return ("quarantined", item.reason) if item.reason is not None else ("processed", None)


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
    messages = gather(source, options)
    result.fetched = len(messages)
    if not messages:
        return result
    attempts = _claim(store, source.name, messages, owner, options)
    recorded = _recorded_before(store, source.name, messages, attempts)
    _hash_all([msg for msg in messages if msg.key in attempts])
    prepared: list[Prepared] = []
    #: The same bytes twice in one batch (an SMTP sender retrying after a 250 it never saw):
    #: recorded once, the copy told what became of the first.
    twins: list[Prepared] = []
    firsts: dict[str, Prepared] = {}
    with CpuBudget(options.message_cpu_seconds) as budget:
        for msg in messages:
            first = firsts.get(msg.sha256) if msg.key in attempts else None
            if first is not None:
                twins.append(Prepared(msg, twin_of=first))
                continue
            try:
                item = _prepare(store, msg, classifier, attempts, recorded.get(msg.key), options, budget, result)
            except Exception as exc:  # noqa: BLE001 - one message must never block the next
                _failed(store, source.name, msg.key, owner, exc, result)
                continue
            if item is not None:
                prepared.append(item)
                firsts.setdefault(msg.sha256, item)
    prepared = _keep_all(store, source.name, owner, prepared, result)
    # The kept copies are flushed to disk while the batch is recorded; the commit waits for it.
    syncing = SyncInBackground(store) if options.sync_kept_files else None
    if syncing is None:
        store.raw_files.forget()  # nothing will sync them: do not keep their names either
    outbox_ids, quarantined = record_batch(store, router, prepared, syncing, options.bulk)
    for item in [*prepared, *twins]:
        try:
            if item.twin_of is not None:
                item.failure, item.recorded = item.twin_of.failure, _state_of(item.twin_of)
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
    trim_heap()  # the batch's memory is free now: give its pages back (see responsemaster.heap_trim)
    result.seconds = time.monotonic() - started
    return result


def gather(source: Source, options: WorkerOptions) -> list[RawMessage]:
    """The batch's messages: fetched in steps of up to :data:`FETCH_STEP` until ``batch_size`` or ``batch_megabytes``.

    The first step asks for :data:`FIRST_STEP`; each one after it for no
    more messages than the budget left holds at the size of those fetched
    so far, so a box of large messages (bounces carrying their attachments
    back) makes short batches instead of a worker holding thousands of them
    at once. A step that brings fewer than asked ends the batch: the source
    has no more now.
    """
    budget = options.batch_megabytes * 1024 * 1024
    messages: list[RawMessage] = []
    size = 0
    wanted = min(FIRST_STEP, FETCH_STEP, options.batch_size)
    while wanted > 0:
        got = source.fetch(wanted)
        messages += got
        size += sum(len(m.raw) for m in got)
        if len(got) < wanted or size >= budget:
            break
        average = size / len(messages)
        wanted = min(FETCH_STEP, options.batch_size - len(messages), int((budget - size) // max(average, 1.0)) + 1)
    return messages


def _recorded_before(store: Store, name: str, messages: list[RawMessage], attempts: dict[str, int]) -> dict[str, tuple[str, str | None]]:
    """What the store already has of the messages claimed before (a replay skips classifying).

    Only a message whose claim is not its first can have been recorded under
    its key (claims are kept), so the look-up is usually skipped. The same
    bytes under a new key (a sender's retry) are found inside the recording
    transaction instead (``worker_recording._not_recorded_meanwhile``), which
    decides in every case; they are only classified once for nothing.
    """
    again = [m for m in messages if attempts.get(m.key, 0) > 1]
    if not again:
        return {}
    with store.reader() as session:
        return find_recorded_many(session, name, again)


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
    budget: CpuBudget,
    result: BatchResult,
) -> Prepared | None:
    """Classify (no transaction yet; :func:`_keep_all` keeps the bytes after); None when another worker holds it."""
    if msg.key not in attempts:
        result.skipped += 1
        return None
    item = Prepared(msg, recorded=recorded)
    if recorded is not None:
        return item  # already recorded: only the source has to be told again
    if attempts[msg.key] > options.max_attempts:
        item.reason = f"gave up after {attempts[msg.key] - 1} attempts: {_last_error(store, msg)}"
        item.verdict = Verdict.failure(GAVE_UP, item.reason)
    else:
        item.verdict = _classify(classifier, msg, budget)
        if item.verdict.error:
            item.reason = item.verdict.error
    return item


def _hash_all(messages: list[RawMessage]) -> None:
    """Every message's SHA-256, in one pass before the batch is classified.

    As with :func:`_keep_all`: the hashing code and the kernel's, run
    between two classifications, found the caches full of the classifier's
    data, and cost about twice what they cost in a row.
    """
    for msg in messages:
        msg.sha256  # noqa: B018 - a cached property: computed here, once


def _keep_all(store: Store, name: str, owner: str, prepared: list[Prepared], result: BatchResult) -> list[Prepared]:
    """Keep the raw bytes of every classified message (not yet recorded) in one pass after classifying.

    Why one pass: a hard link (or a file written) between two
    classifications cost 15.7 µs a message, in a row 7.9 (Maildir, 10,000
    messages): the kernel's code and data no longer in the CPU's caches
    after a classification, and the classifier's evicted for the next one.
    A message whose copy cannot be kept fails alone (its twins with it, see
    :func:`process_batch`); the others go on to be recorded.
    """
    kept = []
    for item in prepared:
        if item.recorded is None:
            msg = item.msg
            try:
                item.path = store.raw_files.keep(msg.raw, msg.sha256, link_from=msg.file)
            except Exception as exc:  # noqa: BLE001 - one message must never block the next
                item.failure = exc
                _failed(store, name, msg.key, owner, exc, result)
                continue
        kept.append(item)
    return kept


def _classify(classifier: object, msg: RawMessage, budget: CpuBudget) -> Verdict:
    """The verdict, or an error verdict (quarantine) when classification runs past its CPU deadline."""
    try:
        with budget.message():
            return classifier.classify(msg.raw)  # type: ignore[attr-defined,no-any-return]
    except TooMuchCpu:
        cpu_seconds = budget.seconds
        logger.info("%s: %s used more than %g CPU seconds; quarantined", msg.source, msg.key, cpu_seconds)
        return Verdict.failure(OVER_DEADLINE, f"classification used more than {cpu_seconds:g} CPU seconds "
                                              "([worker] message_cpu_seconds)")


def _last_error(store: Store, msg: RawMessage) -> str:
    from responsemaster.store.actions import MessageClaim

    with store.reader() as session:
        claim = session.get(MessageClaim, (msg.source, msg.key))
        return (claim.last_error if claim is not None else "") or "the worker died while handling it"


def _tell_source(source: Source, item: Prepared, result: BatchResult) -> None:
    """After the commit: ack (or quarantine) what was recorded, repeat it for replays."""
    key = item.msg.key
    if item.recorded is not None:
        _tell_source_again(source, key, *item.recorded)
        result.duplicates += 1
    elif item.reason is not None:
        source.quarantine(key, item.reason)
        result.quarantined += 1
        result.outcomes.append(Outcome(key, "quarantined", item.verdict, item.reason))
    else:
        source.ack(key)
        result.processed += 1
        result.categories[item.verdict.category] += 1  # type: ignore[union-attr]
        result.outcomes.append(Outcome(key, "processed", item.verdict))


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
    if passing_fault(exc):
        result.retry_keys.append(key)
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
    """Batches until the source has nothing fetchable; the totals.

    Messages that failed on a passing fault (a deadlock that outlasted its
    retries, a lost connection: :func:`~responsemaster.worker_recording.passing_fault`)
    are given back to the source once the rest is done, and tried again,
    each up to ``max_attempts`` times in one drain: ``run --once`` drains
    what is there, and did leave such a message in the inbox for the next
    run. Other failures wait for their lease (or the next run), as before. A
    source that cannot give a message back keeps it until its lease ends.
    """
    total = BatchResult(source.name)
    failures: Counter[str] = Counter()  # times each message failed in this drain
    waiting: set[str] = set()  # failed and not given back since
    while True:
        batch = process_batch(source, classifier, store, router, options=options, owner=owner, deliverer=deliverer)
        if on_batch is not None:
            on_batch(batch)  # type: ignore[operator]
        merge_results(total, batch)
        failures.update(batch.retry_keys)
        waiting.update(batch.retry_keys)
        waiting.difference_update(outcome.key for outcome in batch.outcomes)
        if batch.fetched == 0 or batch.done == 0 and batch.failed == 0:
            again = [key for key in waiting if failures[key] < options.max_attempts]
            waiting.clear()
            if not _give_back(source, again):
                return total


def _give_back(source: Source, keys: list[str]) -> bool:
    """Give ``keys`` back to ``source`` to be fetched again; whether it could (and there were any)."""
    release = getattr(source, "release", None)
    if release is None or not keys:
        return False
    logger.info("%s: %d failed message(s) given back to be tried again", source.name, len(keys))
    release(keys)
    return True


def merge_results(total: BatchResult, batch: BatchResult) -> None:
    """Add a batch's counts to a running total."""
    for name in ("fetched", "processed", "duplicates", "quarantined", "failed", "skipped", "delivered", "seconds"):
        setattr(total, name, getattr(total, name) + getattr(batch, name))
    total.categories.update(batch.categories)
