"""The review page for support staff: the queue, one message, relabel and resolve from the keyboard.

Server-rendered (Jinja2, autoescaped); the only script is our own
``/review/static/review.js`` for j/k, 1-9/0 and r. Login takes an API key
once and keeps it in an HttpOnly, SameSite=Strict cookie; forms carry a
token derived from it (:func:`api.auth.csrf_token`). Mail content goes
through :mod:`api.mail_render` into a sandboxed ``srcdoc`` frame under the
policies of :mod:`api.security_headers`.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from litestar import Controller, Request, get, post
from litestar.datastructures import Cookie
from litestar.enums import MediaType, RequestEncodingType
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import Body, PathParameter, QueryParameter
from litestar.response import Redirect, Response, Template

from api import review_ops
from api.auth import COOKIE, check_csrf, csrf_token
from api.context import Ctx
from api.controllers.common import actor_and_address
from api.controllers.review import CURSOR
from api.keys import verify_key
from api.mail_render import render
from api.security_headers import PAGE_CSP, page_headers, review_csp
from responsemaster.categories import CATEGORIES

#: Keyboard order: what a reviewer most often corrects a routed reply to comes first.
KEY_ORDER = ("user_reply", "auto_reply", "unsubscribe_request", "challenge_response", "feedback_loop",
             "hard_bounce", "soft_bounce", "mailbox_full", "mail_block", "delivery_status", "message_restriction")
SHORTCUTS = [(str((i + 1) % 10) if i < 10 else "", c) for i, c in enumerate(KEY_ORDER)]
assert sorted(KEY_ORDER) == sorted(CATEGORIES)
ItemId = Annotated[int, PathParameter(ge=1, le=2**62)]
#: Rows per queue page; the next page starts after the last row shown (``?after=``), in queue order.
PAGE_SIZE = 100
Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
#: The sign-in serves the review page and the operator console (``/console``); API routes never read it.
COOKIE_PATH = "/"


def _safe_next(target: str | None) -> str:
    """Only our own review and console paths: never an open redirect."""
    if target and target.startswith(("/review", "/console")) and "//" not in target and "\\" not in target:
        return target
    return "/review"


def _key(request: Request[Any, Any, Any]) -> str:
    return request.cookies.get(COOKIE, "")


class ReviewPageController(Controller):
    path = "/review"
    include_in_schema = False
    opt = {"scope": "read", "cookie_auth": True}

    @get("/login", opt={"scope": None}, sync_to_thread=False, media_type=MediaType.HTML)
    def login_form(self, next_: Annotated[str | None, QueryParameter(name="next")] = None) -> Template:
        return Template("review_login.html", context={"next": _safe_next(next_), "error": ""},
                        headers=page_headers(PAGE_CSP))

    @post("/login", opt={"scope": None}, status_code=303)
    async def login(self, ctx: Ctx, request: Request[Any, Any, Any], data: Form) -> Response[Any]:
        key = (data.get("key") or "").strip()
        target = _safe_next(data.get("next"))

        def check() -> bool:
            with ctx.store.reader() as session:
                return bool(key) and verify_key(session, key) is not None

        if not await anyio.to_thread.run_sync(check):
            return Template("review_login.html", status_code=401, headers=page_headers(PAGE_CSP),
                            context={"next": target, "error": "That key is not valid (or was revoked)."})
        cookie = Cookie(key=COOKIE, value=key, path=COOKIE_PATH, httponly=True, samesite="strict",
                        secure=ctx.api.secure_cookies, max_age=12 * 3600)
        return Redirect(path=target, status_code=303, cookies=[cookie])

    @post("/logout", opt={"scope": None}, status_code=303)
    async def logout(self) -> Response[Any]:
        return Redirect(path="/review/login", status_code=303,
                        cookies=[Cookie(key=COOKIE, value="", path=COOKIE_PATH, max_age=0, httponly=True,
                                        samesite="strict")])

    @get("/", sync_to_thread=True, media_type=MediaType.HTML)
    def queue(self, ctx: Ctx, request: Request[Any, Any, Any],
              queue_state: Annotated[str, QueryParameter(name="state", pattern="^(open|resolved|all)$")] = "open",
              after: Annotated[str | None, QueryParameter(pattern=CURSOR, max_length=64)] = None,
              ) -> Template:
        with ctx.store.reader() as session:
            items, total, following = review_ops.list_items(session, queue_state, PAGE_SIZE, 0, after)
        return Template("review_list.html", headers=page_headers(review_csp(False)), context={
            "items": items, "total": total, "state": queue_state, "who": request.state.caller.name,
            "after": after, "next_after": following, "page_size": PAGE_SIZE})

    @get("/{item_id:int}", sync_to_thread=True, media_type=MediaType.HTML)
    def item(self, ctx: Ctx, request: Request[Any, Any, Any], item_id: ItemId,
             remote: Annotated[bool, QueryParameter(description="Load remote images")] = False) -> Template:
        with ctx.store.reader() as session:
            try:
                detail, raw_row = review_ops.detail(session, item_id)
            except review_ops.NoSuchItem as exc:
                raise NotFoundException(str(exc)) from None
            prev_id, next_id = review_ops.neighbours(session, item_id)
        try:
            raw = ctx.store.raw_files.read(raw_row.path)
        except OSError:
            raw = b""
        mail = render(raw, remote=remote)
        return Template("review_item.html", headers=page_headers(review_csp(remote)), context={
            "d": detail, "mail": mail, "remote": remote, "prev_id": prev_id, "next_id": next_id,
            "shortcuts": SHORTCUTS, "csrf": csrf_token(_key(request)), "who": request.state.caller.name})

    @post("/{item_id:int}/resolve", opt={"scope": "write"}, sync_to_thread=True, status_code=303)
    def resolve(self, ctx: Ctx, request: Request[Any, Any, Any], item_id: ItemId, data: Form) -> Redirect:
        check_csrf(request, data.get("csrf"))
        actor, addr = actor_and_address(request)
        try:
            review_ops.resolve(ctx, item_id, actor, addr, (data.get("note") or "")[:2000])
        except review_ops.NoSuchItem as exc:
            raise NotFoundException(str(exc)) from None
        return Redirect(path=_safe_next(data.get("next")), status_code=303)

    @post("/{item_id:int}/relabel", opt={"scope": "write"}, sync_to_thread=True, status_code=303)
    def relabel(self, ctx: Ctx, request: Request[Any, Any, Any], item_id: ItemId, data: Form) -> Redirect:
        check_csrf(request, data.get("csrf"))
        category = data.get("category") or ""
        if category not in CATEGORIES:
            raise ValidationException(f"unknown category {category!r}")
        actor, addr = actor_and_address(request)
        try:
            review_ops.relabel(ctx, item_id, category, actor, addr, (data.get("note") or "")[:2000])
        except review_ops.NoSuchItem as exc:
            raise NotFoundException(str(exc)) from None
        return Redirect(path=_safe_next(data.get("next")), status_code=303)

    @get("/{item_id:int}/raw", sync_to_thread=True)
    def raw(self, ctx: Ctx, item_id: ItemId) -> Response[bytes]:
        with ctx.store.reader() as session:
            try:
                detail, raw_row = review_ops.detail(session, item_id)
            except review_ops.NoSuchItem as exc:
                raise NotFoundException(str(exc)) from None
        return Response(ctx.store.raw_files.read(raw_row.path), media_type="message/rfc822", headers={
            **page_headers("default-src 'none'; sandbox"),
            "Content-Disposition": f'attachment; filename="{detail.item.message_uid}.eml"'})
