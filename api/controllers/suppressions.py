"""The suppression list: paged, exported as streamed CSV, added to and lifted by hand (logged).

Lifting a suppression (re-subscribing) is the one place the API removes a
row: the mailer treats "a suppression row exists" as "never send", so the
row has to go. Its full content is copied into the operation log first, so
nothing is lost. A complaint can only be lifted with an admin key: mailing
someone who reported you as spam is how reputations are lost.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.exceptions import PermissionDeniedException
from litestar.params import JSONBody, QueryParameter
from litestar.response import Stream
from sqlalchemy import delete, func, select, update

from api import oplog
from api.context import Ctx
from api.controllers.common import (
    API,
    ITEM_ERRORS,
    READ,
    READ_ERRORS,
    SECURITY,
    WRITE,
    AddressParam,
    actor_and_address,
    caller_of,
    not_found,
)
from api.controllers.subscribers import suppression_out
from api.keys import Caller
from api.schemas import ChangeOut, ResubscribeIn, SuppressIn, SuppressionOut, SuppressionPage
from responsemaster.csv_writer import csv_chunks
from responsemaster.store.base import address_key, clip, domain_of, utcnow
from responsemaster.store.database import Store
from responsemaster.store.subscribers import ListMembership, Subscriber, SubscriberStatus, Suppression

CSV_COLUMNS = ("address", "domain", "reason", "since", "by")


def _filtered(stmt: Any, reason: str | None, domain: str | None) -> Any:
    if reason:
        stmt = stmt.where(Suppression.reason == reason)
    if domain:
        stmt = stmt.where(Suppression.domain == domain.lower())
    return stmt


def _rows(store: Store, reason: str | None, domain: str | None, chunk: int) -> Iterator[dict[str, object]]:
    """Every matching suppression, read in keyset-paged chunks so memory stays flat."""
    last_id = 0
    while True:
        with store.reader() as session:
            stmt = _filtered(select(Suppression), reason, domain).where(Suppression.id > last_id)  # type: ignore[operator]
            rows = list(session.execute(stmt.order_by(Suppression.id).limit(chunk)).scalars())
        for row in rows:
            yield {"address": row.address, "domain": row.domain, "reason": row.reason,
                   "since": row.since.isoformat(), "by": row.by}
        if len(rows) < chunk:
            return
        last_id = rows[-1].id  # type: ignore[assignment]


def iter_csv(store: Store, reason: str | None, domain: str | None, chunk: int = 2000) -> Iterator[bytes]:
    """The whole list as CSV through the product's one writer (formula cells neutralised), streamed."""
    for text, _count in csv_chunks(_rows(store, reason, domain, chunk), CSV_COLUMNS, rows_per_chunk=chunk):
        yield text.encode("utf-8")


class SuppressionController(Controller):
    path = f"{API}/suppressions"
    tags = ["suppressions"]
    opt = READ
    security = SECURITY

    @get("/", sync_to_thread=True, summary="The suppression list, newest first, paged", responses=READ_ERRORS)
    def list_page(
        self,
        ctx: Ctx,
        page: Annotated[int, QueryParameter(ge=1, le=1_000_000)] = 1,
        per_page: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
        reason: Annotated[str | None, QueryParameter(max_length=64)] = None,
        domain: Annotated[str | None, QueryParameter(max_length=255)] = None,
    ) -> SuppressionPage:
        with ctx.store.reader() as session:
            total = session.execute(_filtered(select(func.count()).select_from(Suppression), reason, domain)).scalar_one()
            stmt = _filtered(select(Suppression), reason, domain).order_by(Suppression.id.desc())  # type: ignore[union-attr]
            rows = session.execute(stmt.offset((page - 1) * per_page).limit(per_page)).scalars()
            items = [suppression_out(r) for r in rows]
        return SuppressionPage(items=[i for i in items if i is not None], total=int(total), page=page, per_page=per_page)

    @get("/export.csv", sync_to_thread=False, summary="The whole suppression list as CSV (streamed)",
         media_type="text/csv", responses=READ_ERRORS)
    def export_csv(
        self,
        ctx: Ctx,
        reason: Annotated[str | None, QueryParameter(max_length=64)] = None,
        domain: Annotated[str | None, QueryParameter(max_length=255)] = None,
    ) -> Stream:
        return Stream(
            iter_csv(ctx.store, reason, domain),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="suppressions.csv"'},
        )

    @post("/", sync_to_thread=True, opt=WRITE, status_code=201, summary="Suppress an address by hand", responses=READ_ERRORS)
    def add(self, ctx: Ctx, request: Request[Any, Any, Any], data: JSONBody[SuppressIn]) -> SuppressionOut:
        actor, addr = actor_and_address(request)
        key = address_key(data.address)
        with ctx.store.transaction() as session:
            row = session.execute(select(Suppression).where(Suppression.address_key == key)).scalars().first()
            if row is None:
                sub = session.execute(select(Subscriber).where(Subscriber.address_key == key)).scalars().first()
                row = Suppression(address=clip(data.address, 320), address_key=key, domain=domain_of(data.address),
                                  reason=data.reason, since=utcnow(), by=clip(f"api:{caller_of(request).name}", 255),
                                  subscriber_id=sub.id if sub else None)
                session.add(row)
                session.flush()
                oplog.record(session, actor, addr, "suppression.add", data.address, reason=data.reason)
            out = suppression_out(row)
        assert out is not None
        return out

    @post("/{address:str}/resubscribe", sync_to_thread=True, opt=WRITE, status_code=200,
          summary="Lift a suppression and make the subscriber active again (logged, with a reason)", responses=ITEM_ERRORS)
    def resubscribe(
        self, ctx: Ctx, request: Request[Any, Any, Any], address: AddressParam, data: JSONBody[ResubscribeIn]
    ) -> ChangeOut:
        _actor, addr = actor_and_address(request)
        return lift_suppression(ctx.store, address, data.reason, caller_of(request), addr)


def lift_suppression(store: Store, address: str, reason: str, caller: Caller, client: str) -> ChangeOut:
    """Lift ``address``'s suppression (the API's and the console's one way): the subscriber becomes active,
    its score resets, the list memberships the suppression ended come back, and the lifted row is copied
    into the operation log in the same transaction. A complaint needs an admin key."""
    actor = caller.actor
    key = address_key(address)
    now = utcnow()
    with store.transaction() as session:
        supp = session.execute(select(Suppression).where(Suppression.address_key == key)).scalars().first()
        if supp is None:
            not_found(f"{address!r} is not suppressed")
        if supp.reason == "complaint" and not caller.allows("admin"):
            raise PermissionDeniedException("lifting a spam complaint needs an admin key")
        lifted = {"reason": supp.reason, "since": supp.since.isoformat(), "by": supp.by}
        session.execute(delete(Suppression).where(Suppression.id == supp.id))
        sub = session.execute(select(Subscriber).where(Subscriber.address_key == key)).scalars().first()
        restored = 0
        if sub is not None:
            previous = sub.status
            sub.status = SubscriberStatus.ACTIVE
            sub.status_reason = clip(f"resubscribed: {reason}", 255)
            sub.status_changed_at = now
            sub.bounce_score = 0.0
            sub.updated_at = now
            session.add(sub)
            # Memberships the suppression ended (same moment) come back; older departures stay.
            restored = session.execute(
                update(ListMembership)
                .where(ListMembership.subscriber_id == sub.id, ListMembership.status == "unsubscribed",  # type: ignore[arg-type]
                       ListMembership.left_at >= supp.since - timedelta(minutes=1))  # type: ignore[operator]
                .values(status="subscribed", left_at=None)
            ).rowcount or 0
            lifted["previous_status"] = previous
        oplog.record(session, actor, client, "suppression.resubscribe", supp.address,
                     reason=reason, lifted=lifted, lists_restored=restored)
    return ChangeOut(address=supp.address, status="active", changed=True)
