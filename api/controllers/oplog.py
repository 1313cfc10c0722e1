"""The operation log, queryable by time range, operation type and actor (admin keys only).

Admin only because it names keys and client addresses.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

from litestar import Controller, get
from litestar.params import QueryParameter

from api import oplog
from api.context import Ctx
from api.controllers.common import ADMIN, API, READ_ERRORS, SECURITY
from api.schemas import OplogEntry, OplogPage
from api.strict_input import utc_instant


def _detail(text: str) -> dict[str, object]:
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError:
        return {"text": text}
    return value if isinstance(value, dict) else {"value": value}


class OplogController(Controller):
    path = f"{API}/oplog"
    tags = ["audit"]
    opt = ADMIN
    security = SECURITY

    @get("/", sync_to_thread=True, summary="Changes made through the API and the CLI, newest first", responses=READ_ERRORS)
    def list_entries(
        self, ctx: Ctx,
        since: Annotated[datetime | None, QueryParameter(description="From (inclusive)")] = None,
        until: Annotated[datetime | None, QueryParameter(description="Until (exclusive)")] = None,
        operation: Annotated[str | None, QueryParameter(max_length=64, description="Type; 'review.' matches a family")] = None,
        actor: Annotated[str | None, QueryParameter(max_length=255)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
        before_id: Annotated[int | None, QueryParameter(ge=1, le=2**62)] = None,
    ) -> OplogPage:
        with ctx.store.reader() as session:
            rows = oplog.query(session, utc_instant(since, "since"), utc_instant(until, "until"), operation, actor,
                               limit + 1, before_id)
        items = [OplogEntry(id=r.id or 0, at=r.at, actor=r.actor, operation=r.operation, target=r.target,
                            detail=_detail(r.detail)) for r in rows[:limit]]
        return OplogPage(items=items, next_before_id=items[-1].id if len(rows) > limit else None)
