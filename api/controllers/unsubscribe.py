"""One-click unsubscribe (RFC 8058) and its confirmation page; the VERP token is the only credential.

``POST /unsubscribe/<token>`` with ``List-Unsubscribe=One-Click`` is what a
mailbox provider sends when the user clicks "unsubscribe"; ``GET`` shows a
page with a button, and never changes anything (link scanners follow GETs).
A token whose HMAC does not verify changes nothing: 400 with a plain
message. A verified token for a subscriber we do not know: 404. The token
names the subscriber by id or by address (docs/return-path-spec.md; the mailer's choice).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.enums import MediaType
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, PathParameter
from litestar.response import Response, Template
from sqlalchemy import select, update

from api import oplog
from api.auth import client_address
from api.context import Ctx
from api.security_headers import PAGE_CSP
from api.strict_input import plain_id
from responsemaster.store.base import address_key, clip, domain_of, utcnow
from responsemaster.store.subscribers import ListMembership, Subscriber, SubscriberStatus, Suppression
from responsemaster.verp import InvalidToken, TokenData, decode_token

#: The shape is documented, not enforced here: a token of any other shape gets our own 400 page
#: (decode_token says why), not a JSON validation error. (Control characters and malformed escapes
#: never get this far: :mod:`api.strict_input` refuses the target first.)
TokenParam = Annotated[str, PathParameter(
    description="The signed VERP token: a version digit and base32 (return-path-spec.md)",
    schema_extra={"pattern": "^[0-9A-Za-z]{1,128}$"})]
ONE_CLICK = "One-Click"
_KEEP = {SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.COMPLAINED}
HEADERS = {"Content-Security-Policy": PAGE_CSP, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Frame-Options": "DENY"}


@dataclass
class Outcome:
    status_code: int
    message: str
    address: str = ""
    changed: bool = False


def _verify(ctx: Ctx, token: str) -> TokenData | Outcome:
    if ctx.keyring is None:
        return Outcome(400, "This unsubscribe link cannot be checked: no signing key is configured.")
    try:
        return decode_token(token, ctx.keyring)
    except InvalidToken:
        return Outcome(400, "This unsubscribe link is not valid (it was altered or is not ours). Nothing was changed.")


def _subscriber(session: Any, data: TokenData) -> Subscriber | None:
    value = data.subscriber
    if (subscriber_id := plain_id(value)) is not None:
        stmt = select(Subscriber).where(Subscriber.id == subscriber_id)
    elif "@" in value:
        stmt = select(Subscriber).where(Subscriber.address_key == address_key(value))
    else:
        return None
    return session.execute(stmt.with_for_update()).scalars().first()


def masked(address: FromPath[str]) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:1]}{'*' * max(1, len(local) - 1)}@{domain}"


def lookup(ctx: Ctx, token: str) -> Outcome:
    data = _verify(ctx, token)
    if isinstance(data, Outcome):
        return data
    with ctx.store.reader() as session:
        sub = _subscriber(session, data)
        if sub is None:
            return Outcome(404, "This unsubscribe link names a subscriber we do not have.")
        return Outcome(200, "", sub.address, sub.status not in _KEEP)


def unsubscribe(ctx: Ctx, token: str, client: str) -> Outcome:
    """Unsubscribe and suppress the token's subscriber (idempotent), logged as ``unsubscribe.one_click``."""
    data = _verify(ctx, token)
    if isinstance(data, Outcome):
        return data
    now = utcnow()
    with ctx.store.transaction() as session:
        sub = _subscriber(session, data)
        if sub is None:
            return Outcome(404, "This unsubscribe link names a subscriber we do not have.")
        previous = sub.status
        changed = sub.status not in _KEEP
        if changed:
            sub.status, sub.status_reason, sub.status_changed_at, sub.updated_at = (
                SubscriberStatus.UNSUBSCRIBED, clip(f"one-click:{data.campaign}", 255), now, now)
            session.add(sub)
            session.execute(update(ListMembership)
                            .where(ListMembership.subscriber_id == sub.id, ListMembership.status == "subscribed")  # type: ignore[arg-type]
                            .values(status="unsubscribed", left_at=now))
        key = address_key(sub.address)
        if session.execute(select(Suppression.id).where(Suppression.address_key == key)).first() is None:
            session.add(Suppression(address=sub.address, address_key=key, domain=domain_of(sub.address),
                                    reason="unsubscribe", since=now, by=clip(f"one-click:{data.campaign}", 255),
                                    subscriber_id=sub.id))
            changed = True
        if changed:
            oplog.record(session, "one-click", client, "unsubscribe.one_click", sub.address,
                         campaign=data.campaign, previous_status=previous)
    return Outcome(200, "You are unsubscribed. You will not receive these mailings again.", sub.address, changed)


_WHY = ((400, "Invalid token, or not a one-click request: nothing changed"), (404, "The token names no known subscriber"))
_PAGES = {code: ResponseSpec(data_container=str, media_type=MediaType.HTML, description=why) for code, why in _WHY}
_TEXTS = {code: ResponseSpec(data_container=str, media_type=MediaType.TEXT, description=why) for code, why in _WHY}


def _wants_html(request: Request[Any, Any, Any]) -> bool:
    return "text/html" in request.headers.get("accept", "")


class UnsubscribeController(Controller):
    path = "/unsubscribe"
    tags = ["unsubscribe"]

    @get("/{token:str}", sync_to_thread=True, summary="Confirmation page (changes nothing)",
         media_type=MediaType.HTML, responses=_PAGES)
    def confirm_page(self, ctx: Ctx, token: TokenParam) -> Template:
        outcome = lookup(ctx, token)
        return Template("unsubscribe.html", status_code=outcome.status_code, headers=HEADERS, context={
            "outcome": outcome, "token": token, "address": masked(outcome.address) if outcome.address else "",
            "done": False})

    @post("/{token:str}", summary="RFC 8058 one-click unsubscribe (body: List-Unsubscribe=One-Click)",
          status_code=200, request_max_body_size=4096, media_type=MediaType.TEXT, responses=_TEXTS)
    async def one_click(self, ctx: Ctx, request: Request[Any, Any, Any], token: TokenParam) -> Response[Any]:
        import anyio

        form = await request.form()
        if form.get("List-Unsubscribe") != ONE_CLICK:
            outcome = Outcome(400, "Expected the form field List-Unsubscribe=One-Click (RFC 8058).")
        else:
            outcome = await anyio.to_thread.run_sync(unsubscribe, ctx, token, client_address(request))
        if _wants_html(request):
            return Template("unsubscribe.html", status_code=outcome.status_code, headers=HEADERS, context={
                "outcome": outcome, "token": token, "address": masked(outcome.address) if outcome.address else "",
                "done": outcome.status_code == 200})
        return Response(outcome.message + "\n", status_code=outcome.status_code, media_type=MediaType.TEXT,
                        headers=HEADERS)
