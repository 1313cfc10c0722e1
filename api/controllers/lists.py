"""Mailing lists with their members by state (the console's lists page answers from the same count)."""

from __future__ import annotations

from litestar import Controller, get

from api.context import Ctx
from api.controllers.common import API, READ, READ_ERRORS, SECURITY
from api.kept import member_counts
from api.schemas import ListOut
from mailer.subscribers import all_lists


class ListController(Controller):
    path = f"{API}/lists"
    tags = ["lists"]
    opt = READ
    security = SECURITY

    @get("/", sync_to_thread=True, summary="Every list with its members by state", responses=READ_ERRORS)
    def lists(self, ctx: Ctx) -> list[ListOut]:
        with ctx.store.reader() as session:
            rows = all_lists(session)
        counted = member_counts(ctx.store)
        out = []
        for row in rows:
            states = counted.value.get(row.id or 0, {})
            out.append(ListOut(name=row.name, description=row.description, members=sum(states.values()),
                               by_state=states, counted_at=counted.at))
        return out
