"""Lists and subscribers: member counts by status, search by address, one subscriber, CSV in and out.

The import is the CLI's (:func:`mailer.subscribers.import_csv`), with the
same report (rejected rows with their line numbers); the export streams
:func:`mailer.subscribers.iter_export_rows` through the mailer's CSV writer
(formula cells neutralised). A subscriber's page shows what the API's
subscriber endpoints answer, plus its deliveries and lists.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any

import anyio
from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.enums import MediaType
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import QueryParameter
from litestar.response import Response, Stream, Template
from sqlalchemy import select

from api import oplog
from api import sending_views as sends
from api.kept import kept, member_counts
from api.console.web import ROOT, WRITE, Upload, back, caller, checked, page, starts_with
from api.context import Ctx
from api.controllers.common import actor_and_address
from api.controllers.subscribers import subscriber_out, verdict_history
from mailer.csv_io import csv_chunks
from mailer.subscribers import MEMBER_STATES, all_lists, import_csv, iter_export_rows
from responsemaster.store.base import address_key
from responsemaster.store.mailing import SubscriberFields
from responsemaster.store.subscribers import ListMembership, MailingList, Subscriber, Suppression

#: The largest CSV the page accepts (the CLI has no limit; beyond this, use ``mailer import``).
MAX_UPLOAD = 64 * 1024 * 1024
SEARCH_LIMIT = 50
EXPORT_COLUMNS = ["email", "name", "status", "bounce_score"]


def search(session: Any, store: Any, text: str, limit: int = SEARCH_LIMIT) -> list[Subscriber]:
    """Subscribers whose address starts with ``text`` (case-folded), read from the unique key's index."""
    prefix = address_key(text.strip()) if "@" in text else text.strip().lower()
    if not prefix:
        return []
    stmt = select(Subscriber).where(starts_with(Subscriber.address_key, prefix, store))
    return list(session.execute(stmt.order_by(Subscriber.address_key).limit(limit)).scalars())


def memberships(session: Any, subscriber_id: int) -> list[tuple[str, ListMembership]]:
    rows = session.execute(select(MailingList.name, ListMembership).join(
        ListMembership, ListMembership.list_id == MailingList.id).where(ListMembership.subscriber_id == subscriber_id))
    return [(name, m) for name, m in rows]


def export_stream(store: Any, list_name: str | None) -> Iterator[bytes]:
    for text, _count in csv_chunks(iter_export_rows(store, list_name), EXPORT_COLUMNS):
        yield text.encode("utf-8")


class ListsController(Controller):
    path = "/lists"

    @get("/", sync_to_thread=True, media_type=MediaType.HTML)
    def lists(self, ctx: Ctx, request: Request[Any, Any, Any],
              q: Annotated[str, QueryParameter(max_length=320)] = "") -> Response[Any]:
        with ctx.store.reader() as session:
            lists = all_lists(session)
            found = search(session, ctx.store, q) if q.strip() else []
        counted = member_counts(ctx.store)
        if len(found) == 1 and found[0].address_key == address_key(q.strip()):
            return back(f"{ROOT}/lists/subscriber", address=found[0].address_key)
        return page(request, "lists.html", lists=lists, counts=counted.value, counted_at=counted.at,
                    states=MEMBER_STATES, q=q, found=found, searched=bool(q.strip()))

    @get("/subscriber", sync_to_thread=True, media_type=MediaType.HTML)
    def subscriber(self, ctx: Ctx, request: Request[Any, Any, Any],
                   address: Annotated[str, QueryParameter(max_length=320)]) -> Template:
        key = address_key(address)
        with ctx.store.reader() as session:
            row = session.execute(select(Subscriber, Suppression).join(
                Suppression, Suppression.address_key == Subscriber.address_key, isouter=True)
                .where(Subscriber.address_key == key)).first()
            if row is None:
                raise NotFoundException(f"no subscriber {address!r}")
            sub, supp = row
            history, more = verdict_history(session, key, 100, None)
            deliveries = sends.subscriber_deliveries(session, sub.id)  # type: ignore[arg-type]
            member_of = memberships(session, sub.id)  # type: ignore[arg-type]
            fields_row = session.get(SubscriberFields, sub.id)
        fields = json.loads(fields_row.data) if fields_row else {}
        return page(request, "subscriber.html", s=subscriber_out(sub, supp), name=sub.name, history=history, more=more,
                    deliveries=deliveries, member_of=member_of, fields=fields)

    @get("/import", sync_to_thread=True, media_type=MediaType.HTML)
    def import_form(self, ctx: Ctx, request: Request[Any, Any, Any]) -> Template:
        with ctx.store.reader() as session:
            lists = all_lists(session)
        return page(request, "import.html", lists=lists, report=None, list_name="")

    @post("/import", opt=WRITE, media_type=MediaType.HTML, status_code=200, request_max_body_size=MAX_UPLOAD)
    async def import_csv(self, ctx: Ctx, request: Request[Any, Any, Any], data: Upload) -> Template:
        checked(request, data)
        new, chosen = data.get("new_list"), data.get("list")
        list_name = (new if isinstance(new, str) and new.strip() else chosen if isinstance(chosen, str) else "").strip()
        upload = data.get("file")
        if not list_name or len(list_name) > 255:
            raise ValidationException("name the list to import into (an existing one, or a new name)")
        if not isinstance(upload, UploadFile):
            raise ValidationException("choose a CSV file to import")
        content = await upload.read()
        actor, addr = actor_and_address(request)

        def run() -> Any:
            report = import_csv(ctx.store, content, list_name, origin="console")
            with ctx.store.transaction() as session:
                oplog.record(session, actor, addr, "subscribers.import", list_name, file=upload.filename[:255],
                             added=report.added_to_list, rejected=len(report.rejected), rows=report.rows)
            return report

        try:
            report = await anyio.to_thread.run_sync(run)
        except ValueError as exc:  # no address column, empty file
            raise ValidationException(f"{upload.filename}: {exc}") from None
        kept.forget()

        def lists() -> list[MailingList]:
            with ctx.store.reader() as session:
                return all_lists(session)

        return page(request, "import.html", lists=await anyio.to_thread.run_sync(lists), report=report,
                    list_name=list_name, filename=upload.filename, by=caller(request).name)

    @get("/export.csv", sync_to_thread=False)
    def export(self, ctx: Ctx, list_name: Annotated[str | None, QueryParameter(name="list", max_length=255)] = None
               ) -> Stream:
        name = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_.") else "_" for ch in list_name or "subscribers")
        return Stream(export_stream(ctx.store, list_name or None), media_type="text/csv; charset=utf-8",
                      headers={"Content-Disposition": f'attachment; filename="{name}.csv"', "Cache-Control": "no-store"})
