"""Deliver the outbox: external effects written with the verdict, performed after commit.

Guarantee (see docs/worker.md): an effect is never lost (its row commits with
the verdict, and stays ``pending`` until a send succeeded and ``done`` was
committed) and is sent twice only if a worker dies in the instant between the
remote side accepting it and our ``done`` commit. To keep even that case
harmless, forwards carry a Message-ID and webhooks an Idempotency-Key derived
from the message's stable id, which the receiving side can deduplicate on.

A row is claimed with a conditional UPDATE (state pending, lease free or
expired): exactly one worker wins it, on SQLite and PostgreSQL alike. A claim
expires after ``lease_seconds`` (longer than any send timeout), so a crashed
worker's effects are picked up by the next worker.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from sqlalchemy import and_, or_, select, update

from responsemaster.routing.config import RoutingConfig
from responsemaster.routing.outbound import DeliveryError, deliver
from responsemaster.store.actions import ActionTaken, OutboxItem
from responsemaster.store.base import clip, utcnow
from responsemaster.store.database import Store

logger = logging.getLogger("responsemaster.outbox")
_outbox = OutboxItem.__table__  # type: ignore[attr-defined]


class OutboxDeliverer:
    def __init__(self, store: Store, config: RoutingConfig, owner: str) -> None:
        self.store = store
        self.config = config
        self.owner = owner

    def deliver_due(self, ids: list[int] | None = None, limit: int = 100) -> int:
        """Claim and deliver due effects (``ids``: just these); how many were delivered."""
        delivered = 0
        for item_id in self._due(ids, limit):
            item = self._claim(item_id)
            if item is not None and self._deliver(item):
                delivered += 1
        return delivered

    def pending(self) -> int:
        with self.store.reader() as session:
            return len(session.execute(select(_outbox.c.id).where(_outbox.c.state == "pending")).all())

    def next_due_in(self) -> float | None:
        """Seconds until the next pending effect may be tried (None: nothing pending)."""
        with self.store.reader() as session:
            rows = session.execute(
                select(_outbox.c.next_attempt_at, _outbox.c.lease_until).where(_outbox.c.state == "pending")
            ).all()
        if not rows:
            return None
        now = utcnow()
        waits = [max((max(n, lease or n) - now).total_seconds(), 0.0) for n, lease in rows]
        return min(waits)

    def _due(self, ids: list[int] | None, limit: int) -> list[int]:
        now = utcnow()
        stmt = select(_outbox.c.id).where(
            _outbox.c.state == "pending",
            _outbox.c.next_attempt_at <= now,
            or_(_outbox.c.lease_until.is_(None), _outbox.c.lease_until < now),
        )
        if ids is not None:
            stmt = stmt.where(_outbox.c.id.in_(ids))
        with self.store.reader() as session:
            return [row[0] for row in session.execute(stmt.order_by(_outbox.c.id).limit(limit))]

    def _claim(self, item_id: int) -> OutboxItem | None:
        now = utcnow()
        with self.store.transaction() as session:
            result = session.execute(
                update(_outbox)
                .where(
                    and_(
                        _outbox.c.id == item_id,
                        _outbox.c.state == "pending",
                        or_(_outbox.c.lease_until.is_(None), _outbox.c.lease_until < now),
                    )
                )
                .values(
                    lease_owner=self.owner,
                    lease_until=now + timedelta(seconds=self.config.outbox.lease_seconds),
                    attempts=_outbox.c.attempts + 1,
                )
            )
            if result.rowcount != 1:
                return None
            return session.get(OutboxItem, item_id)

    def _deliver(self, item: OutboxItem) -> bool:
        accepted = False

        def mark_done() -> None:  # the instant the other side said yes: shortest double-send window
            nonlocal accepted
            accepted = True
            self._finish(item, "done", "sent")

        try:
            deliver(item.kind, json.loads(item.payload), self.config, self.store.var, item.idempotency_key, mark_done)
        except (DeliveryError, OSError, ValueError, KeyError) as exc:
            if accepted:  # e.g. QUIT failed after the 250: delivered all the same
                logger.info("outbox %s %s: delivered; closing failed: %s", item.kind, item.idempotency_key, exc)
                return True
            self._failed(item, str(exc))
            return False
        if not accepted:
            self._finish(item, "done", "sent")
        return True

    def _finish(self, item: OutboxItem, state: str, action_status: str, error: str = "") -> None:
        with self.store.transaction() as session:
            session.execute(
                update(_outbox)
                .where(and_(_outbox.c.id == item.id, _outbox.c.lease_owner == self.owner))
                .values(state=state, done_at=utcnow(), lease_until=None, last_error=clip(error, 4000))
            )
            session.execute(update(ActionTaken).where(ActionTaken.id == item.action_id).values(status=action_status))  # type: ignore[arg-type]

    def _failed(self, item: OutboxItem, error: str) -> None:
        settings = self.config.outbox
        if item.attempts >= settings.max_attempts:
            logger.error("outbox %s %s: giving up after %d attempts: %s", item.kind, item.idempotency_key, item.attempts, error)
            self._finish(item, "dead", "failed", error)
            return
        delay = min(settings.backoff_seconds * 2 ** max(item.attempts - 1, 0), settings.backoff_max_seconds)
        logger.warning("outbox %s %s: attempt %d failed (%s); retry in %.0fs", item.kind, item.idempotency_key, item.attempts, error, delay)
        with self.store.transaction() as session:
            session.execute(
                update(_outbox)
                .where(and_(_outbox.c.id == item.id, _outbox.c.lease_owner == self.owner))
                .values(next_attempt_at=utcnow() + timedelta(seconds=delay), lease_until=None, last_error=clip(error, 4000))
            )
