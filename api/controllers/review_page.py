"""The review page for support staff: the queue, one message, relabel and resolve from the keyboard.

Server-rendered (Jinja2, autoescaped); the only script is our own
``/review/static/review.js`` for j/k, 1-9/0 and r. Signing in takes an API
key once and opens a server-side session (:mod:`api.sessions`): the cookie
holds a random id, never the key; forms carry a token derived from it
(:func:`api.auth.form_token`). The operator console signs in here too
(``/review/login?next=/console/...``). Mail content goes
through :mod:`api.mail_render` into a sandboxed ``srcdoc`` frame under the
policies of :mod:`api.security_headers`.
"""

from __future__ import annotations

import hmac
import logging
import math
import secrets
from typing import Annotated, Any

import anyio
from litestar import Controller, Request, get, post
from litestar.datastructures import Cookie
from litestar.enums import MediaType, RequestEncodingType
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import Body, PathParameter, QueryParameter
from litestar.response import Redirect, Response, Template

from api import oplog, recipient_review, review_ops
from api.auth import COOKIE, LOGIN_PATH, PAGE_OPT, check_csrf, client_address, form_token, signed_in
from api.context import ApiContext, Ctx
from api.controllers.common import actor_and_address
from api.controllers.review import CURSOR
from api.keys import Caller, verify_key
from api.mail_render import render
from api.schemas import NOTE_WHITESPACE
from api.security_headers import PAGE_CSP, page_headers, review_csp
from api.sessions import (
    LOGIN_COOKIE,
    clear_failures,
    cookie_secure,
    end_session,
    open_session,
    over_https,
    record_failure,
    retry_after,
    same_origin,
)
from responsemaster.categories import BOUNCE_CATEGORIES, CATEGORIES, reasons_of
from responsemaster.control_chars import has_control

#: Keyboard order: what a reviewer most often corrects a routed reply to comes first.
KEY_ORDER = ("user_reply", "auto_reply", "unsubscribe_request", "challenge_response", "feedback_loop",
             "hard_bounce", "soft_bounce", "mailbox_full", "mail_block", "delivery_status", "message_restriction")
SHORTCUTS = [(str((i + 1) % 10) if i < 10 else "", c) for i, c in enumerate(KEY_ORDER)]
assert sorted(KEY_ORDER) == sorted(CATEGORIES)
#: What a reported recipient can be corrected to: the bounce categories (by severity), then "not a failure".
RECIPIENT_CATEGORIES = [c for c in KEY_ORDER if c in BOUNCE_CATEGORIES] + ["delivery_status"]
RECIPIENT_REASONS = {c: list(reasons_of(c)) for c in RECIPIENT_CATEGORIES}  # type: ignore[arg-type]
logger = logging.getLogger("api.review_page")
ItemId = Annotated[int, PathParameter(ge=1, le=2**62)]
#: Rows per queue page; the next page starts after the last row shown (``?after=``), in queue order.
PAGE_SIZE = 100
Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _safe_next(target: str | None) -> str:
    """Only our own page paths (review page, console): never an open redirect."""
    if (target and target.startswith(("/review", "/console")) and "//" not in target and "\\" not in target
            and not has_control(target)):
        return target
    return "/review"


PLAIN_HTTP = ("This page is served over plain HTTP to another machine, so the sign-in cookie is marked Secure and "
              "your browser would not keep it. Serve it over HTTPS (or set [api] secure_cookies = false on a "
              "network you trust).")
EXPIRED = "This sign-in form expired or was sent from another site. Sign in again from this page."


def _login_page(ctx: ApiContext, request: Request[Any, Any, Any], target: str, error: str = "",
                status_code: int = 200, headers: dict[str, str] | None = None) -> Template:
    """The form, with its one-time token in a SameSite=Strict cookie (login CSRF) and in a hidden field."""
    nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    secure = cookie_secure(request, ctx.api.secure_cookies)
    if not error and secure and not over_https(request):
        error = PLAIN_HTTP
    cookie = Cookie(key=LOGIN_COOKIE, value=nonce, path=LOGIN_PATH, httponly=True, samesite="strict",
                    secure=secure, max_age=3600)
    return Template("review_login.html", status_code=status_code, headers={**page_headers(PAGE_CSP), **(headers or {})},
                    cookies=[cookie], context={"next": target, "error": error, "csrf": nonce})


def _sign_in(ctx: ApiContext, key: str, client: str) -> tuple[Caller, str] | None:
    """The key's caller and a new session id (logged as ``session.login``), or None for a bad key."""
    with ctx.store.reader() as db:
        caller = verify_key(db, key) if key else None
    if caller is None:
        return None
    with ctx.store.transaction() as db:
        clear_failures(db, client)
        session_id = open_session(db, caller, client, ctx.api.session_hours)
        oplog.record(db, caller.actor, client, "session.login", caller.name, hours=ctx.api.session_hours)
    return caller, session_id


def _wait_before_sign_in(ctx: ApiContext, client: str) -> float:
    with ctx.store.reader() as db:
        return retry_after(db, client)


def _failed_sign_in(ctx: ApiContext, client: str) -> None:
    with ctx.store.transaction() as db:
        record_failure(db, client)


def _sign_out(ctx: ApiContext, session_id: str) -> None:
    with ctx.store.transaction() as db:
        end_session(db, session_id)


def _note(data: dict[str, str]) -> str:
    note = (data.get("note") or "")[:2000]
    if has_control(note, allow=NOTE_WHITESPACE):
        raise ValidationException("the note contains a control character")
    return note


class ReviewPageController(Controller):
    path = "/review"
    include_in_schema = False
    opt = PAGE_OPT

    @get("/login", opt={"scope": None}, sync_to_thread=False, media_type=MediaType.HTML)
    def login_form(self, ctx: Ctx, request: Request[Any, Any, Any],
                   next_: Annotated[str | None, QueryParameter(name="next")] = None) -> Template:
        return _login_page(ctx, request, _safe_next(next_))

    @post("/login", opt={"scope": None}, status_code=303)
    async def login(self, ctx: Ctx, request: Request[Any, Any, Any], data: Form) -> Response[Any]:
        """Checks in order: HTTPS when the cookie must be Secure, the form token and origin, the throttle, the key."""
        target = _safe_next(data.get("next"))
        client = client_address(request)
        secure = cookie_secure(request, ctx.api.secure_cookies)
        if secure and not over_https(request):
            return _login_page(ctx, request, target, PLAIN_HTTP, 400)
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        if not same_origin(request) or not nonce or not hmac.compare_digest(nonce, data.get("csrf") or ""):
            return _login_page(ctx, request, target, EXPIRED, 403)
        wait = await anyio.to_thread.run_sync(_wait_before_sign_in, ctx, client)
        if wait:
            return _login_page(ctx, request, target, f"Too many failed sign-ins from your address: try again in "
                               f"{math.ceil(wait / 60)} minute(s).", 429, {"Retry-After": str(math.ceil(wait))})
        signed = await anyio.to_thread.run_sync(_sign_in, ctx, (data.get("key") or "").strip(), client)
        if signed is None:
            await anyio.to_thread.run_sync(_failed_sign_in, ctx, client)
            logger.info("failed sign-in to the review page from %s", client)
            return _login_page(ctx, request, target, "That key is not valid (or was revoked).", 401)
        _caller, session_id = signed
        return Redirect(path=target, status_code=303, cookies=[
            Cookie(key=COOKIE, value=session_id, path="/", httponly=True, samesite="strict", secure=secure,
                   max_age=int(ctx.api.session_hours * 3600)),
            Cookie(key=LOGIN_COOKIE, value="", path=LOGIN_PATH, max_age=0, httponly=True, samesite="strict"),
            # Before sessions, the cookie held the key itself (path /review): make browsers drop it.
            Cookie(key="rm_key", value="", path="/review", max_age=0, httponly=True, samesite="strict"),
        ])

    @post("/logout", opt={"scope": None}, status_code=303)
    async def logout(self, ctx: Ctx, request: Request[Any, Any, Any], data: Form) -> Response[Any]:
        """Ends the session for good (not only the cookie); the form carries the page's token."""
        session_id = request.cookies.get(COOKIE)
        if session_id:
            check_csrf(request, data.get("csrf"))
            await anyio.to_thread.run_sync(_sign_out, ctx, session_id)
        return Redirect(path=LOGIN_PATH, status_code=303, cookies=[
            Cookie(key=COOKIE, value="", path="/", max_age=0, httponly=True, samesite="strict")])

    @get("/", sync_to_thread=True, media_type=MediaType.HTML)
    def queue(self, ctx: Ctx, request: Request[Any, Any, Any],
              queue_state: Annotated[str, QueryParameter(name="state", pattern="^(open|resolved|all)$")] = "open",
              after: Annotated[str | None, QueryParameter(pattern=CURSOR, max_length=64)] = None,
              ) -> Template:
        with ctx.store.reader() as session:
            items, total, following = review_ops.list_items(session, queue_state, PAGE_SIZE, 0, after)
        return Template("review_list.html", headers=page_headers(review_csp(False)), context={
            "items": items, "total": total, "state": queue_state, "who": signed_in(request).name,
            "csrf": form_token(request),
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
            "shortcuts": SHORTCUTS, "csrf": form_token(request), "who": signed_in(request).name,
            "recipient_categories": RECIPIENT_CATEGORIES, "recipient_reasons": RECIPIENT_REASONS})

    @post("/{item_id:int}/recipient", opt={"scope": "write"}, sync_to_thread=True, status_code=303)
    def relabel_recipient(self, ctx: Ctx, request: Request[Any, Any, Any], item_id: ItemId, data: Form) -> Redirect:
        check_csrf(request, data.get("csrf"))
        actor, addr = actor_and_address(request)
        try:
            recipient_review.relabel_recipient(ctx, item_id, (data.get("address") or "")[:320],
                                               data.get("category") or "", (data.get("reason") or "")[:64],
                                               actor, addr, _note(data))
        except review_ops.NoSuchItem as exc:
            raise NotFoundException(str(exc)) from None
        except ValueError as exc:
            raise ValidationException(str(exc)) from None
        return Redirect(path=_safe_next(data.get("next")), status_code=303)

    @post("/{item_id:int}/confirm-prune", opt={"scope": "write"}, sync_to_thread=True, status_code=303)
    def confirm_prune(self, ctx: Ctx, request: Request[Any, Any, Any], item_id: ItemId, data: Form) -> Redirect:
        check_csrf(request, data.get("csrf"))
        actor, addr = actor_and_address(request)
        try:
            recipient_review.confirm_prunes(ctx, item_id, actor, addr, (data.get("address") or None))
        except (review_ops.NoSuchItem, recipient_review.NoPendingPrune) as exc:
            raise NotFoundException(str(exc)) from None
        return Redirect(path=_safe_next(data.get("next")), status_code=303)

    @post("/{item_id:int}/resolve", opt={"scope": "write"}, sync_to_thread=True, status_code=303)
    def resolve(self, ctx: Ctx, request: Request[Any, Any, Any], item_id: ItemId, data: Form) -> Redirect:
        check_csrf(request, data.get("csrf"))
        actor, addr = actor_and_address(request)
        try:
            review_ops.resolve(ctx, item_id, actor, addr, _note(data))
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
            review_ops.relabel(ctx, item_id, category, actor, addr, _note(data))
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
