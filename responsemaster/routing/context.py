"""What a disposition sees, and the helpers every disposition uses.

All of it runs inside the worker's single transaction: an action row, a
subscriber change, a suppression and an outbox row commit together with the
verdict or not at all. Each action is keyed ``<message uid>:<disposition>:<target>``
(UNIQUE), so applying the same disposition twice to the same message and
target is a no-op at the database level.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm.attributes import set_attribute
from sqlmodel import Session

from responsemaster.routing.config import RoutingConfig
from responsemaster.routing.pending import ActionRef, PendingWrites, batch_of
from responsemaster.store.actions import ActionTaken
from responsemaster.store.base import address_key, clip, domain_of, utcnow
from responsemaster.store.bulk import member_of
from responsemaster.store.messages import MessageVerdict, RawMessageRow
from responsemaster.store.recording import Recorded
from responsemaster.store.subscribers import Subscriber
from responsemaster.store.upsert import dialect_insert
from responsemaster.verdict import Verdict

_actions = ActionTaken.__table__  # type: ignore[attr-defined]


@dataclass
class Target:
    """Whom (or what) a disposition acts on, and under which category."""

    address: str
    category: str
    reason: str = ""
    #: The disposition's argument from the config (``move:Replies`` -> ``Replies``).
    arg: str = ""
    #: How sure the classifier is of ``category`` for this address (prune waits for a person below a threshold).
    confidence: float = 1.0


@dataclass
class RouteContext:
    session: Session
    config: RoutingConfig
    message: RawMessageRow | Recorded
    verdict_row: MessageVerdict | Recorded
    verdict: Verdict
    raw: bytes
    var: Path
    now: datetime = field(default_factory=utcnow)
    #: The message's raw row was inserted in this very transaction, so no action of it can
    #: exist yet: actions are checked for repeats in memory and written in one statement at
    #: the end of :meth:`flush` (or of the batch, see routing.pending). False (a replay, a
    #: re-route) checks each one in the database.
    fresh: bool = False
    #: Outbox rows created in this transaction (delivered right after commit); inside a
    #: batch, :func:`~responsemaster.routing.pending.finish_batch` returns them instead.
    outbox_ids: list[int] = field(default_factory=list)
    pending: PendingWrites = field(default_factory=PendingWrites)
    #: Addresses ``log`` handled for this message (it writes no row to check).
    logged: set[str] = field(default_factory=set)
    _keys: set[str] = field(default_factory=set)

    @property
    def uid(self) -> str:
        return self.message.uid

    @property
    def forged(self) -> bool:
        return bool(self.verdict.attribution.forged_token)

    def flush(self) -> None:
        """Write the buffered rows; inside a batch, a fresh message's join the batch's instead."""
        batch = batch_of(self.session) if self.fresh else None
        if batch is not None:
            batch.take(self.pending)
        elif self.pending:
            self.outbox_ids.extend(self.pending.write(self.session))


def _action_insert(session: Session) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id, built once per dialect (its cache key too)."""
    dialect = session.get_bind().dialect.name
    if dialect not in _ACTION_INSERT:
        stmt = dialect_insert(session, _actions).on_conflict_do_nothing(index_elements=["idempotency_key"])
        _ACTION_INSERT[dialect] = stmt.returning(_actions.c.id)
    return _ACTION_INSERT[dialect]


_ACTION_INSERT: dict[str, Any] = {}
_ACTION_UPDATE = update(_actions).where(_actions.c.id == bindparam("action_id")).values(
    status=bindparam("status"), detail=bindparam("detail")
)


def record_action(
    ctx: RouteContext, disposition: str, target: str, status: str = "done", detail: str = ""
) -> ActionRef | None:
    """Log an action once; ``None`` when this (message, disposition, target) already has one.

    A fresh message (its row inserted in this transaction) can only repeat an
    action of its own, so a set in memory decides and the row is buffered for
    :meth:`RouteContext.flush`. Otherwise INSERT ... ON CONFLICT DO NOTHING
    RETURNING id: one statement, and the database decides what "already" means.
    """
    key = clip(f"{ctx.uid}:{disposition}:{target}", 700)
    values = {
        "message_id": ctx.message.id,
        "disposition": disposition,
        "target": clip(target, 512),
        "status": status,
        "detail": clip(detail),
        "idempotency_key": key,
        "created_at": ctx.now,
    }
    if ctx.fresh:
        if key in ctx._keys:
            return None
        ctx._keys.add(key)
        action = ActionRef(None, key, status, values["detail"], values)
        ctx.pending.actions.append(action)
        return action
    new_id = ctx.session.connection().execute(_action_insert(ctx.session), values).scalar()
    return None if new_id is None else ActionRef(new_id, key, status, values["detail"])


def set_action(ctx: RouteContext, action: ActionRef, status: str, detail: str = "") -> None:
    action.status = status
    if detail:
        action.detail = clip(detail)
    if action.id is None:  # still buffered: the INSERT will carry the outcome
        action.values["status"], action.values["detail"] = action.status, action.detail
        return
    ctx.session.connection().execute(
        _ACTION_UPDATE, {"action_id": action.id, "status": action.status, "detail": action.detail}
    )


def enqueue(ctx: RouteContext, action: ActionRef, kind: str, payload: dict[str, Any]) -> None:
    """An external effect to deliver after commit (same transaction as the verdict)."""
    values = {
        "kind": kind,
        "idempotency_key": action.idempotency_key,
        "payload": json.dumps(payload, sort_keys=True),
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": ctx.now,
        "lease_owner": "",
        "lease_until": None,
        "last_error": "",
        "created_at": ctx.now,
        "done_at": None,
    }
    ctx.pending.outbox.append((action, values))
    if action.id is not None:  # not buffered: write it now
        ctx.flush()


#: Statuses of an action whose effect was queued today, whatever became of it since: still queued,
#: sent by the outbox, or given up after its attempts. Skipped and flagged ones never were effects.
QUEUED_EFFECTS = ("queued", "sent", "failed")


def queued_today(ctx: RouteContext, disposition: str, target: str) -> int:
    """Actions of ``disposition`` on ``target`` queued since midnight UTC (the daily caps).

    Delivered ones count (:data:`QUEUED_EFFECTS`): the outbox marks a forward
    ``sent`` after each batch, and a cap that counted only those still waiting
    let an autoresponder get a forward for every message of a day. Those of
    earlier messages of the same batch are not written yet (routing.pending):
    they count too, so a cap holds inside a batch as it does across batches.
    The message being routed does not count itself.
    """
    start = datetime.combine(ctx.now.date(), time.min, tzinfo=UTC)
    stmt = select(func.count()).select_from(_actions).where(
        _actions.c.disposition == disposition,
        _actions.c.target == target,
        _actions.c.status.in_(QUEUED_EFFECTS),
        _actions.c.created_at >= start,
    )
    written = int(ctx.session.connection().execute(stmt).scalar_one())
    batch = batch_of(ctx.session)
    return written + (batch.queued(disposition, target, start) if batch is not None else 0)


# --------------------------------------------------------------------------- subscribers
#
# Looked up by several dispositions of one message (log, then prune...) and by
# many messages of one batch: each transaction keeps what it read (and what it
# found missing) in ``session.info``. The worker forgets it when it rolls a
# message's savepoint back, since rows read or written inside it may be gone.

_CACHE = "rm_subscribers"
_CREATED = "rm_subscribers_created"


def forget_subscribers(session: Session) -> None:
    """Drop what this transaction cached about subscribers (after a savepoint rollback)."""
    session.info.pop(_CACHE, None)
    session.info.pop(_CREATED, None)


def created_here(ctx: RouteContext, sub: Subscriber) -> bool:
    """True when this transaction created the row (so it has no list memberships yet)."""
    return sub.id in ctx.session.info.get(_CREATED, ())


def preload_subscribers(session: Session, addresses: list[str]) -> None:
    """Read the subscriber rows of many addresses in one query, for :func:`find_subscriber`.

    The worker calls it once per batch with every address the batch's
    verdicts concern; rows are locked (PostgreSQL) in address order, the
    order every worker takes them in.
    """
    cache = session.info.setdefault(_CACHE, {})
    keys = sorted({address_key(a) for a in addresses if a} - cache.keys())
    dialect = session.get_bind().dialect.name
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        stmt = select(Subscriber).where(member_of(Subscriber.address_key, chunk, dialect)).order_by(Subscriber.address_key)
        found = {sub.address_key: sub for sub in session.execute(stmt.with_for_update()).scalars()}
        for key in chunk:
            cache[key] = found.get(key)


def find_subscriber(ctx: RouteContext, address: str) -> Subscriber | None:
    """The subscriber row, locked for update (PostgreSQL) so concurrent scores do not race."""
    key = address_key(address)
    cache = ctx.session.info.setdefault(_CACHE, {})
    if key in cache:
        return cache[key]
    stmt = select(Subscriber).where(Subscriber.address_key == key).with_for_update()
    found = ctx.session.execute(stmt).scalars().first()
    cache[key] = found
    return found


def get_or_create_subscriber(ctx: RouteContext, address: str, category: str) -> Subscriber:
    """The subscriber, created (origin ``returned-mail``) if the address is new to us.

    A new row starts with this verdict as its last one (under ``category``,
    the address's own), as ``log`` would have written had the row existed.
    INSERT ... ON CONFLICT DO NOTHING RETURNING its id, else read it: two
    workers seeing a new address at once both end up with the one row.
    """
    found = find_subscriber(ctx, address)
    if found is not None:
        return found
    values = {
        "address": clip(address, 320),
        "address_key": clip(address_key(address), 320),
        "domain": clip(domain_of(address), 255),
        "status": "active",
        "status_reason": "",
        "bounce_score": 0.0,
        "last_verdict_id": ctx.verdict_row.id,
        "last_category": clip(category, 32),
        "last_verdict_at": ctx.now,
        "suggested_address": "",
        "name": "",
        "origin": "returned-mail",
        "created_at": ctx.now,
        "updated_at": ctx.now,
    }
    new_id = ctx.session.connection().execute(_subscriber_insert(ctx.session, list(values)), values).scalar()
    created = None
    if new_id is not None:
        with ctx.session.no_autoflush:  # the rows changed so far are written at commit, in one go
            created = ctx.session.get(Subscriber, new_id)
        ctx.session.info.setdefault(_CREATED, set()).add(new_id)
    if created is None:  # another worker created it meanwhile
        ctx.session.info[_CACHE].pop(values["address_key"], None)
        created = find_subscriber(ctx, address)
    assert created is not None
    ctx.session.info[_CACHE][values["address_key"]] = created
    return created


def _subscriber_insert(session: Session, columns: list[str]) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id of a new subscriber, built once per dialect (the
    columns are always those :func:`get_or_create_subscriber` gives).

    A Core statement with its parameters bound at execution, then the row
    read back by its id: an ORM ``INSERT ... RETURNING Subscriber`` built
    from the values each time cost about three times as much (0.54 ms).
    """
    dialect = session.get_bind().dialect.name
    if dialect not in _SUBSCRIBER_INSERT:
        table = Subscriber.__table__  # type: ignore[attr-defined]
        stmt = dialect_insert(session, table).values({name: bindparam(name) for name in columns})
        _SUBSCRIBER_INSERT[dialect] = stmt.on_conflict_do_nothing(index_elements=["address_key"]).returning(table.c.id)
    return _SUBSCRIBER_INSERT[dialect]


_SUBSCRIBER_INSERT: dict[str, Any] = {}


def update_subscriber(ctx: RouteContext, sub: Subscriber, **changes: Any) -> None:
    """Set ``changes`` on ``sub`` and mark it updated now: the one way routing changes a subscriber.

    Through SQLAlchemy's attribute setter: the model's own ``__setattr__``
    (SQLModel's) runs it and then pydantic's as well, which a row of the
    session does not need (under 1% of the worker's own instructions, issue
    13: the reason is one way of doing it, not the speed). The rows
    routing changes were read into this session, which tracks their changes
    already: added only when not there yet (``Session.add`` on each again
    walked its cascades, about 4% more).
    """
    for name, value in changes.items():
        set_attribute(sub, name, value)
    set_attribute(sub, "updated_at", ctx.now)
    if sub not in ctx.session:
        ctx.session.add(sub)
