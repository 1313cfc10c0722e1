"""The delivery log: one ``deliveries`` row per (campaign, subscriber), and its states.

States: ``queued`` -> ``sending`` -> ``sent`` | ``deferred`` (retried later)
| ``failed`` (refused, or gave up) | ``uncertain``; ``suppressed`` for
members that must not be mailed. A row is marked ``sending`` (committed)
before its message is handed to a relay, and gets its final state after the
relay answered, in batches.

The resume guarantee (documented in docs/mailer.md): a recipient is never
sent the same campaign twice by ResponseMaster. A row still ``sending`` when
a run starts belongs to a run that died; its message may have been accepted
by the relay, so it becomes ``uncertain`` and is not resent unless an
operator asks (``mailer resend-uncertain``). At most the rows in flight when
the process died (about two batches) can be in that state.

Recipients are read in keyset order (``list_members.id``), one batch at a
time, so memory does not grow with the list.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, func, select, update
from sqlmodel import Session

from responsemaster.store.base import clip, domain_of, utcnow
from responsemaster.store.database import Store
from responsemaster.store.mailing import SubscriberFields
from responsemaster.store.platform import Delivery
from responsemaster.store.subscribers import NOT_MAILABLE, ListMembership, Subscriber, Suppression
from responsemaster.store.upsert import insert_ignore

FINAL = frozenset({"sent", "failed", "uncertain", "suppressed"})


@dataclass
class Recipient:
    subscriber_id: int
    address: str
    name: str
    fields: dict[str, str] = field(default_factory=dict)
    delivery_id: int | None = None
    delivery_status: str = ""
    attempts: int = 0
    message_id: str = ""
    next_attempt_at: datetime | None = None
    mailable: bool = True
    member_id: int = 0


def _recipient_query(campaign_id: int):  # type: ignore[no-untyped-def]
    return (
        select(ListMembership.id, Subscriber.id, Subscriber.address, Subscriber.name, Subscriber.status,
               SubscriberFields.data, Suppression.id, Delivery.id, Delivery.status, Delivery.attempts,
               Delivery.message_id, Delivery.next_attempt_at, ListMembership.status)
        .join(Subscriber, Subscriber.id == ListMembership.subscriber_id)
        .outerjoin(SubscriberFields, SubscriberFields.subscriber_id == Subscriber.id)
        .outerjoin(Suppression, Suppression.address_key == Subscriber.address_key)
        .outerjoin(Delivery, and_(Delivery.campaign_id == campaign_id, Delivery.subscriber_id == Subscriber.id))
    )


def _to_recipient(row: tuple) -> Recipient:  # type: ignore[type-arg]
    member_id, sid, address, name, status, data, supp, did, dstatus, attempts, msg_id, next_at, mstatus = row
    mailable = status not in NOT_MAILABLE and supp is None and mstatus == "subscribed"
    return Recipient(sid, address, name or "", json.loads(data) if data else {}, did, dstatus or "",
                     attempts or 0, msg_id or "", next_at, mailable, member_id)


def iter_members(store: Store, list_id: int, campaign_id: int, batch: int) -> Iterator[list[Recipient]]:
    """Every member of the list with its suppression state and delivery row, a batch at a time."""
    last = 0
    query = _recipient_query(campaign_id).where(ListMembership.list_id == list_id)
    while True:
        with store.reader() as session:
            rows = session.execute(query.where(ListMembership.id > last).order_by(ListMembership.id).limit(batch)).all()
        if not rows:
            return
        yield [_to_recipient(r) for r in rows]
        last = rows[-1][0]


def members(store: Store, list_id: int, campaign_id: int, key: str | None = None, limit: int = 200) -> list[Recipient]:
    """The first ``limit`` members of the list in list order, or the one whose address key is ``key``."""
    query = _recipient_query(campaign_id).where(ListMembership.list_id == list_id)
    if key is not None:
        query = query.where(Subscriber.address_key == key)
    with store.reader() as session:
        return [_to_recipient(r) for r in session.execute(query.order_by(ListMembership.id).limit(limit)).all()]


def iter_due_retries(store: Store, list_id: int, campaign_id: int, batch: int) -> Iterator[list[Recipient]]:
    """Deferred rows whose next attempt is due (re-reading suppression: it may have changed)."""
    last = 0
    query = _recipient_query(campaign_id).where(ListMembership.list_id == list_id, Delivery.status == "deferred")
    while True:
        now = utcnow()
        with store.reader() as session:
            rows = session.execute(query.where(Delivery.next_attempt_at <= now, Delivery.id > last)  # type: ignore[operator]
                                   .order_by(Delivery.id).limit(batch)).all()
        if not rows:
            return
        yield [_to_recipient(r) for r in rows]
        last = rows[-1][7]


def next_retry_at(store: Store, campaign_id: int) -> datetime | None:
    with store.reader() as session:
        return session.execute(select(func.min(Delivery.next_attempt_at)).where(
            Delivery.campaign_id == campaign_id, Delivery.status == "deferred")).scalar_one()


def counted_recipients(store: Store, campaign_id: int) -> int:
    """Rows that count toward a campaign's recipient limit (everything but suppressed)."""
    with store.reader() as session:
        return int(session.execute(select(func.count()).select_from(Delivery).where(
            Delivery.campaign_id == campaign_id, Delivery.status != "suppressed")).scalar_one())


def resolve_interrupted(session: Session, campaign_id: int) -> int:
    """Rows left ``sending`` by a run that died become ``uncertain`` (never resent automatically)."""
    result = session.execute(
        update(Delivery).where(Delivery.campaign_id == campaign_id, Delivery.status == "sending")  # type: ignore[arg-type]
        .values(status="uncertain", last_error="interrupted while sending: may or may not have been delivered"))
    return result.rowcount or 0


def mark_suppressed(session: Session, campaign_id: int, recipients: list[Recipient]) -> None:
    """Log members skipped because they must not be mailed (new rows, or queued/deferred ones)."""
    now = utcnow()
    for r in recipients:
        if r.delivery_id is None:
            insert_ignore(session, Delivery.__table__, _new_row(campaign_id, r, "suppressed", "", "", now, 0),  # type: ignore[attr-defined]
                          ["campaign_id", "subscriber_id"])
        elif r.delivery_status in ("queued", "deferred"):
            session.execute(update(Delivery).where(Delivery.id == r.delivery_id).values(status="suppressed"))  # type: ignore[arg-type]


def _new_row(campaign_id: int, r: Recipient, status: str, return_path: str, msg_id: str, now: datetime,
             attempts: int) -> dict[str, object]:
    return {"campaign_id": campaign_id, "subscriber_id": r.subscriber_id, "address": clip(r.address, 320),
            "domain": domain_of(r.address), "return_path": clip(return_path, 320), "message_id": clip(msg_id, 998),
            "status": status, "attempts": attempts, "last_error": "", "queued_at": now}


def mark_sending(session: Session, campaign_id: int, items: list[tuple[Recipient, str, str]]) -> dict[int, tuple[int, int]]:
    """Commit-before-send: rows -> ``sending`` with the envelope; subscriber id -> (delivery id, attempt)."""
    now = utcnow()
    table = Delivery.__table__  # type: ignore[attr-defined]
    new = [_new_row(campaign_id, r, "sending", rp, mid, now, 1) for r, rp, mid in items if r.delivery_id is None]
    if new:
        session.execute(table.insert(), new)
    updates = [{"id": r.delivery_id, "status": "sending", "attempts": r.attempts + 1, "return_path": rp,
                "message_id": mid} for r, rp, mid in items if r.delivery_id is not None]
    if updates:
        session.execute(update(Delivery), updates)
    ids = [r.subscriber_id for r, _, _ in items]
    rows = session.execute(select(Delivery.subscriber_id, Delivery.id, Delivery.attempts).where(
        Delivery.campaign_id == campaign_id, Delivery.subscriber_id.in_(ids)))  # type: ignore[attr-defined]
    return {sid: (did, attempts) for sid, did, attempts in rows}


def backoff(attempt: int, base: float, cap: float) -> timedelta:
    """Exponential backoff for 4xx: base, 2×base, 4×base ... capped."""
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempt - 1)))


def release_unsent(session: Session, delivery_ids: list[int]) -> None:
    """Rows marked ``sending`` that were never handed to a relay go back to ``queued``."""
    if delivery_ids:
        session.execute(update(Delivery).where(Delivery.id.in_(delivery_ids), Delivery.status == "sending")  # type: ignore[attr-defined]
                        .values(status="queued"))


def status_counts(store: Store, campaign_id: int) -> dict[str, int]:
    with store.reader() as session:
        rows = session.execute(select(Delivery.status, func.count()).where(Delivery.campaign_id == campaign_id)
                               .group_by(Delivery.status))
        return {status: int(count) for status, count in rows}
