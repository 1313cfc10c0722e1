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

from sqlalchemy import select, update
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


def record_action(
    ctx: RouteContext, disposition: str, target: str, status: str = "done", detail: str = ""
) -> ActionTaken | None:
    """Log an action once; ``None`` when this (message, disposition, target) already has one.

    INSERT ... ON CONFLICT DO NOTHING RETURNING id: one statement, and the
    database (not a read before the write) decides what "already" means.
    """
    values = {
        "message_id": ctx.message.id,
        "disposition": disposition,
        "target": clip(target, 512),
        "status": status,
        "detail": clip(detail),
        "idempotency_key": clip(f"{ctx.uid}:{disposition}:{target}", 700),
        "created_at": ctx.now,
    }
    stmt = dialect_insert(ctx.session, _actions).values(**values).on_conflict_do_nothing(index_elements=["idempotency_key"])
    new_id = ctx.session.connection().execute(stmt.returning(_actions.c.id)).scalar()
    return None if new_id is None else ActionTaken(id=new_id, **values)


def set_action(ctx: RouteContext, action: ActionTaken, status: str, detail: str = "") -> None:
    action.status = status
    if detail:
        action.detail = clip(detail)
    ctx.session.connection().execute(
        update(_actions).where(_actions.c.id == action.id).values(status=action.status, detail=action.detail)
    )


def enqueue(ctx: RouteContext, action: ActionTaken, kind: str, payload: dict[str, Any]) -> OutboxItem:
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
