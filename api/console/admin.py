"""Admin pages: the operation log (who did what, when, from where) and the API keys.

Admin only, as in the API (``/api/v1/oplog`` needs admin): both name keys
and client addresses. The log is :func:`api.oplog.query`, filtered by days,
operation (``campaign.`` matches a family) and actor, paged backwards by id.
Keys are listed and revoked here; they are only ever *made* on the command
line (``responsemaster apikey create``), so a stolen admin session cannot
mint keys that outlive it.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.enums import MediaType
from litestar.exceptions import ValidationException
from litestar.params import QueryParameter
from litestar.response import Redirect, Template
from sqlalchemy import select

from api import oplog, ranges
from api.console.web import ADMIN, ROOT, DayQ, Form, RangeQ, back, checked, page, span
from api.context import Ctx
from api.controllers.common import actor_and_address
from api.kept import kept
from api.keys import KeyError_, revoke_key
from responsemaster.store.platform import ApiKey, OperationLog

PAGE = 100
Text = Annotated[str, QueryParameter(max_length=255)]


def _detail(text: str) -> list[tuple[str, str]]:
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError:
        return [("text", text)]
    if not isinstance(value, dict):
        return [("value", str(value))]
    return [(k, v if isinstance(v, str) else json.dumps(v, sort_keys=True)) for k, v in value.items() if k != "from"]


def _from(text: str) -> str:
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError:
        return ""
    return str(value.get("from", "")) if isinstance(value, dict) else ""


def _operations(store: Any) -> list[str]:
    """The operations the log holds (for the filter's choices)."""
    with store.reader() as session:
        return list(session.execute(select(OperationLog.operation).distinct().order_by(OperationLog.operation)).scalars())


class OplogPageController(Controller):
    path = "/oplog"
    opt = ADMIN

    @get("/", sync_to_thread=True, media_type=MediaType.HTML)
    def log(self, ctx: Ctx, request: Request[Any, Any, Any], period: RangeQ = None, since: DayQ = None,
            until: DayQ = None, operation: Text = "", actor: Text = "",
            before: Annotated[int | None, QueryParameter(ge=1, le=2**62)] = None) -> Template:
        chosen = span(period, since, until, default="30d")
        start, end = ranges.bounds(chosen.first, chosen.last)
        with ctx.store.reader() as session:
            rows = oplog.query(session, start, end, operation.strip() or None, actor.strip() or None, PAGE + 1, before)
        operations = kept.get(ctx.store, "oplog_operations", lambda: _operations(ctx.store)).value
        entries = [(r, _from(r.detail), _detail(r.detail)) for r in rows[:PAGE]]
        filters = {"operation": operation.strip(), "actor": actor.strip()}
        families = sorted({op.split(".")[0] + "." for op in operations})
        return page(request, "oplog.html", span=chosen, entries=entries, filters=filters, operations=operations,
                    families=families, next_before=rows[PAGE - 1].id if len(rows) > PAGE else None, before=before,
                    qs=chosen.qs(**filters))


class KeysController(Controller):
    path = "/keys"
    opt = ADMIN

    @get("/", sync_to_thread=True, media_type=MediaType.HTML)
    def keys(self, ctx: Ctx, request: Request[Any, Any, Any]) -> Template:
        with ctx.store.reader() as session:
            rows = list(session.execute(select(ApiKey).order_by(ApiKey.revoked_at.is_not(None), ApiKey.name)).scalars())  # type: ignore[union-attr]
        return page(request, "keys.html", keys=rows)

    @post("/revoke", sync_to_thread=True, status_code=303)
    def revoke(self, ctx: Ctx, request: Request[Any, Any, Any], data: Form) -> Redirect:
        checked(request, data)
        name = (data.get("name") or "").strip()
        if data.get("confirm") != "yes":
            raise ValidationException("tick the box to confirm")
        actor, addr = actor_and_address(request)
        try:
            with ctx.store.transaction() as session:
                revoke_key(session, name)
                oplog.record(session, actor, addr, "apikey.revoke", name)
        except KeyError_ as exc:
            raise ValidationException(str(exc)) from None
        ctx.key_cache._entries.clear()  # a revoked key stops at once here, not after the cache's seconds
        return back(f"{ROOT}/keys", "revoked")
