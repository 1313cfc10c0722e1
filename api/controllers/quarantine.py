"""The quarantine: messages that could not be parsed or classified, kept whole with the reason.

List them, download the raw bytes (as an attachment, never rendered), and
re-process one: classification runs again in a background task on the API
queue (:mod:`api.tasks`, :mod:`api.reprocess`), so a slow classifier never
holds an HTTP request.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.exceptions import ClientException
from litestar.params import PathParameter, QueryParameter
from litestar.response import Response
from sqlalchemy import func, select

from api import oplog
from api.context import Ctx
from api.controllers.common import (
    API,
    ITEM_ERRORS,
    READ,
    READ_ERRORS,
    SECURITY,
    WRITE,
    actor_and_address,
    errors,
    not_found,
)
from api.schemas import QuarantineItem, QuarantinePage, TaskOut
from responsemaster.store.messages import RawMessageRow

UidParam = Annotated[str, PathParameter(min_length=8, max_length=40, pattern=r"^[0-9a-f]+$")]


def _item(row: RawMessageRow) -> QuarantineItem:
    return QuarantineItem(uid=row.uid, source=row.source, key=row.key, error=row.error or "", size=row.size,
                          received_at=row.received_at, state=row.state)


def _quarantined(session: Any, uid: str) -> RawMessageRow:
    row = session.execute(select(RawMessageRow).where(RawMessageRow.uid == uid)).scalars().first()
    if row is None or row.state not in ("quarantined", "reprocessed"):
        not_found(f"no quarantined message {uid}")
    return row


class QuarantineController(Controller):
    path = f"{API}/quarantine"
    tags = ["quarantine"]
    opt = READ
    security = SECURITY

    @get("/", sync_to_thread=True, summary="Quarantined messages, newest first", responses=READ_ERRORS)
    def list_page(
        self, ctx: Ctx,
        page: Annotated[int, QueryParameter(ge=1, le=1_000_000)] = 1,
        per_page: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    ) -> QuarantinePage:
        with ctx.store.reader() as session:
            where = RawMessageRow.state == "quarantined"
            total = session.execute(select(func.count()).select_from(RawMessageRow).where(where)).scalar_one()
            rows = session.execute(select(RawMessageRow).where(where)
                                   .order_by(RawMessageRow.received_at.desc(), RawMessageRow.id.desc())  # type: ignore[attr-defined,union-attr]
                                   .offset((page - 1) * per_page).limit(per_page)).scalars()
            items = [_item(r) for r in rows]
        return QuarantinePage(items=items, total=int(total), page=page, per_page=per_page)

    @get("/{uid:str}", sync_to_thread=True, summary="One quarantined message and why", responses=ITEM_ERRORS)
    def show(self, ctx: Ctx, uid: UidParam) -> QuarantineItem:
        with ctx.store.reader() as session:
            return _item(_quarantined(session, uid))

    @get("/{uid:str}/raw", sync_to_thread=True, summary="The raw message, as an attachment",
         media_type="message/rfc822", responses=ITEM_ERRORS)
    def raw(self, ctx: Ctx, uid: UidParam) -> Response[bytes]:
        with ctx.store.reader() as session:
            row = _quarantined(session, uid)
        try:
            data = ctx.store.raw_files.read(row.path)
        except OSError:
            not_found(f"the kept copy of {uid} is missing ({row.path})")
        return Response(data, media_type="message/rfc822", headers={
            "Content-Disposition": f'attachment; filename="{uid}.eml"',
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        })

    @post("/{uid:str}/reprocess", sync_to_thread=True, opt=WRITE, status_code=202,
          summary="Classify and route the message again (background task)", responses=errors(400, 401, 403, 404, 409))
    def reprocess(self, ctx: Ctx, request: Request[Any, Any, Any], uid: UidParam) -> TaskOut:
        actor, addr = actor_and_address(request)
        with ctx.store.reader() as session:
            row = _quarantined(session, uid)
        if row.state != "quarantined":
            raise ClientException(f"message {uid} was already re-processed", status_code=409)
        task_id = ctx.tasks.reprocess(uid)
        with ctx.store.transaction() as session:
            oplog.record(session, actor, addr, "quarantine.reprocess", uid, task=task_id, source=row.source)
        return TaskOut(task="reprocess", id=task_id, target=uid)
