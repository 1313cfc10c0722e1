"""A subscriber's status, bounce score and full verdict history.

History joins two views of the same facts: verdicts whose *subject* is the
address (an auto-reply, a complaint, a reply) and DSN lines that *report*
the address as a failed recipient. A message in both is shown once, with the
recipient line's details (status, reply code, remote MTA).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, get
from litestar.params import QueryParameter
from sqlalchemy import func, select

from api.context import Ctx
from api.controllers.common import API, ITEM_ERRORS, READ, SECURITY, AddressParam, not_found
from api.one_read import one_read
from api.schemas import DeliveryRow, SubscriberOut, SuppressionOut, VerdictOut, VerdictPage
from api.sending_views import subscriber_deliveries
from api.strict_input import utc_instant
from responsemaster.store.base import address_key
from responsemaster.store.messages import MessageVerdict, RawMessageRow, RecipientVerdictRow
from responsemaster.store.subscribers import Subscriber, Suppression


def suppression_out(row: Suppression | None) -> SuppressionOut | None:
    if row is None:
        return None
    return SuppressionOut(address=row.address, domain=row.domain, reason=row.reason, since=row.since, by=row.by)


def subscriber_out(sub: Subscriber, suppression: Suppression | None) -> SubscriberOut:
    return SubscriberOut(
        address=sub.address,
        status=sub.status,
        status_reason=sub.status_reason,
        status_changed_at=sub.status_changed_at,
        bounce_score=round(float(sub.bounce_score), 4),
        last_bounce_at=sub.last_bounce_at,
        last_category=sub.last_category,
        last_verdict_at=sub.last_verdict_at,
        suggested_address=sub.suggested_address,
        origin=sub.origin,
        created_at=sub.created_at,
        suppression=suppression_out(suppression),
    )


def verdict_history(session: Any, key: str, limit: int, before: datetime | None) -> tuple[list[VerdictOut], bool]:
    """Newest first; True when older entries remain. Columns, not entities: this runs on every lookup."""
    mv, rv = MessageVerdict, RecipientVerdictRow
    common = (mv.id, RawMessageRow.uid, mv.confidence, mv.decided_by, mv.campaign, mv.via)
    subject = (
        select(*common, mv.created_at, mv.category, mv.reason)
        .join(RawMessageRow, RawMessageRow.id == mv.message_id)
        .where(mv.subscriber_key == key)
    )
    reported = (
        select(*common, rv.created_at, rv.category, rv.reason, rv.decided_by, rv.status, rv.reply_code,
               rv.remote_mta, func.substr(rv.diagnostic, 1, 2000))
        .join(mv, mv.id == rv.verdict_id)
        .join(RawMessageRow, RawMessageRow.id == mv.message_id)
        .where(rv.address_key == key)
    )
    if before is not None:
        subject = subject.where(mv.created_at < before)
        reported = reported.where(rv.created_at < before)
    subject = subject.order_by(mv.created_at.desc()).limit(limit + 1)  # type: ignore[attr-defined]
    reported = reported.order_by(rv.created_at.desc()).limit(limit + 1)  # type: ignore[attr-defined]
    found: dict[int, VerdictOut] = {}
    for vid, uid, conf, decided, campaign, via, at, cat, reason, r_decided, status, code, mta, diag in \
            session.execute(reported):
        found.setdefault(vid, VerdictOut(
            message_uid=uid, at=at, role="recipient", category=cat, reason=reason, confidence=round(conf, 4),
            decided_by=r_decided or decided, campaign=campaign, via=via, status=status, reply_code=code,
            remote_mta=mta, diagnostic=diag or "",
        ))
    for vid, uid, conf, decided, campaign, via, at, cat, reason in session.execute(subject):
        found.setdefault(vid, VerdictOut(
            message_uid=uid, at=at, role="subject", category=cat, reason=reason, confidence=round(conf, 4),
            decided_by=decided, campaign=campaign, via=via,
        ))
    items = sorted(found.values(), key=lambda v: (v.at, v.message_uid), reverse=True)
    return items[:limit], len(items) > limit


class SubscriberController(Controller):
    path = f"{API}/subscribers"
    tags = ["subscribers"]
    opt = READ
    security = SECURITY

    @get("/{address:str}", sync_to_thread=True, summary="A subscriber's status and bounce score", responses=ITEM_ERRORS)
    def show(self, ctx: Ctx, address: AddressParam) -> SubscriberOut:
        key = address_key(address)
        with one_read(ctx.store) as session:  # one SELECT (subscriber joined with its suppression)
            row = session.execute(
                select(Subscriber, Suppression)
                .join(Suppression, Suppression.address_key == Subscriber.address_key, isouter=True)
                .where(Subscriber.address_key == key)
            ).first()
            if row is None:
                not_found(f"no subscriber {address!r}")
            return subscriber_out(row[0], row[1])

    @get("/{address:str}/verdicts", sync_to_thread=True, summary="Every verdict about an address, newest first", responses=ITEM_ERRORS)
    def verdicts(
        self,
        ctx: Ctx,
        address: AddressParam,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
        before: Annotated[datetime | None, QueryParameter(description="Only verdicts older than this")] = None,
    ) -> VerdictPage:
        key = address_key(address)
        with ctx.store.reader() as session:
            items, more = verdict_history(session, key, limit, utc_instant(before, "before"))
        return VerdictPage(address=address, items=items, next_before=items[-1].at if more and items else None)

    @get("/{address:str}/deliveries", sync_to_thread=True, summary="Every campaign sent to an address, newest first",
         responses=ITEM_ERRORS)
    def deliveries(self, ctx: Ctx, address: AddressParam,
                   limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100) -> list[DeliveryRow]:
        with ctx.store.reader() as session:
            sid = session.execute(select(Subscriber.id).where(Subscriber.address_key == address_key(address))).scalar()
            if sid is None:
                not_found(f"no subscriber {address!r}")
            return subscriber_deliveries(session, sid, limit)
