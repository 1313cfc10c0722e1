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
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlmodel import Session

from responsemaster.routing.config import RoutingConfig
from responsemaster.store.actions import ActionTaken, OutboxItem
from responsemaster.store.base import address_key, clip, domain_of, utcnow
from responsemaster.store.messages import MessageVerdict, RawMessageRow
from responsemaster.store.subscribers import Subscriber
from responsemaster.store.upsert import dialect_insert, insert_ignore
from responsemaster.verdict import Verdict

_actions = ActionTaken.__table__  # type: ignore[attr-defined]
_subscribers = Subscriber.__table__  # type: ignore[attr-defined]


@dataclass
class Target:
    """Whom (or what) a disposition acts on, and under which category."""

    address: str
    category: str
    reason: str = ""
    #: The disposition's argument from the config (``move:Replies`` -> ``Replies``).
    arg: str = ""


@dataclass
class RouteContext:
    session: Session
    config: RoutingConfig
    message: RawMessageRow
    verdict_row: MessageVerdict
    verdict: Verdict
    raw: bytes
    var: Path
    now: datetime = field(default_factory=utcnow)
    #: Outbox rows created in this transaction (delivered right after commit).
    outbox_ids: list[int] = field(default_factory=list)

    @property
    def uid(self) -> str:
        return self.message.uid

    @property
    def forged(self) -> bool:
        return bool(self.verdict.attribution.forged_token)


@dataclass
class ActionRef:
    """The action row just written (a plain record: built once per action on the hot path)."""

    id: int
    idempotency_key: str
    status: str
    detail: str


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

    INSERT ... ON CONFLICT DO NOTHING RETURNING id: one statement, and the
    database (not a read before the write) decides what "already" means.
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
    new_id = ctx.session.connection().execute(_action_insert(ctx.session), values).scalar()
    return None if new_id is None else ActionRef(new_id, key, status, values["detail"])


def set_action(ctx: RouteContext, action: ActionRef, status: str, detail: str = "") -> None:
    action.status = status
    if detail:
        action.detail = clip(detail)
    ctx.session.connection().execute(
        _ACTION_UPDATE, {"action_id": action.id, "status": action.status, "detail": action.detail}
    )


def enqueue(ctx: RouteContext, action: ActionRef, kind: str, payload: dict[str, Any]) -> OutboxItem:
    """An external effect to deliver after commit (same transaction as the verdict)."""
    item = OutboxItem(
        action_id=action.id,  # type: ignore[arg-type]
        kind=kind,
        idempotency_key=action.idempotency_key,
        payload=json.dumps(payload, sort_keys=True),
        next_attempt_at=ctx.now,
        created_at=ctx.now,
    )
    ctx.session.add(item)
    ctx.session.flush()
    ctx.outbox_ids.append(item.id)  # type: ignore[arg-type]
    return item


def find_subscriber(ctx: RouteContext, address: str) -> Subscriber | None:
    """The subscriber row, locked for update (PostgreSQL) so concurrent scores do not race."""
    stmt = select(Subscriber).where(Subscriber.address_key == address_key(address)).with_for_update()
    return ctx.session.execute(stmt).scalars().first()


def get_or_create_subscriber(ctx: RouteContext, address: str) -> Subscriber:
    """The subscriber, created (origin ``returned-mail``) if the address is new to us.

    INSERT ... ON CONFLICT DO NOTHING, then read: two workers seeing a new
    address at once both end up with the one row.
    """
    values = {
        "address": clip(address, 320),
        "address_key": clip(address_key(address), 320),
        "domain": clip(domain_of(address), 255),
        "status": "active",
        "status_reason": "",
        "bounce_score": 0.0,
        "last_category": "",
        "suggested_address": "",
        "name": "",
        "origin": "returned-mail",
        "created_at": ctx.now,
        "updated_at": ctx.now,
    }
    insert_ignore(ctx.session, _subscribers, values, ["address_key"])
    found = find_subscriber(ctx, address)
    assert found is not None
    return found


def touch(ctx: RouteContext, sub: Subscriber) -> None:
    sub.updated_at = ctx.now
    ctx.session.add(sub)
