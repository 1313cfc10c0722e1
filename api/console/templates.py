"""Templates: list, edit, save (compiled first) and preview for a chosen subscriber.

The preview renders with the mailer's own sandboxed Jinja2
(:class:`mailer.templates.CampaignTemplate`, ``StrictUndefined``) and the
subscriber's real fields, so an error here is the error the pre-flight would
stop on. The rendered HTML is then treated like mail from a stranger (a
template is typed by a person, and a field by a subscriber): cleaned by
:func:`api.mail_render.sanitize` and shown in a sandboxed ``srcdoc`` frame
whose own policy forbids scripts, as the review page shows replies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from litestar import Controller, Request, get, post
from litestar.enums import MediaType
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import PathParameter, QueryParameter
from litestar.response import Response, Template
from sqlalchemy import select

from api import oplog
from api.console.web import ROOT, WRITE, Form, back, checked, page
from api.context import Ctx
from api.controllers.common import actor_and_address
from api.mail_render import frame_document, sanitize
from api.security_headers import review_csp
from mailer.campaigns import save_template
from mailer.templates import CampaignTemplate, TemplateProblem, recipient_context
from responsemaster.store.base import address_key
from responsemaster.store.mailing import MailTemplate, SubscriberFields
from responsemaster.store.subscribers import Subscriber

NameParam = Annotated[str, PathParameter(max_length=255)]
MAX_PART = 1_000_000


@dataclass
class Preview:
    address: str
    subject: str = ""
    text: str = ""
    document: str = ""
    error: str = ""


def _unsubscribe_example(settings: Any) -> str:
    try:
        from mailer.settings import mailer_settings

        return mailer_settings(settings).unsubscribe_url.replace("{token}", "preview-token")
    except Exception:  # a mailer section the mailer refuses: it says why when it sends
        return "https://localhost/unsubscribe/preview-token"


def render_preview(session: Any, settings: Any, subject: str, html: str, text: str, address: str) -> Preview:
    """The template rendered for ``address`` (default: the first subscriber), or the error it stops on."""
    if address.strip():
        sub = session.execute(select(Subscriber).where(Subscriber.address_key == address_key(address))).scalars().first()
    else:
        sub = session.execute(select(Subscriber).order_by(Subscriber.id).limit(1)).scalars().first()
    if sub is None:
        return Preview(address, error=f"no subscriber {address!r}" if address.strip() else "no subscriber yet to preview for")
    row = session.get(SubscriberFields, sub.id)
    fields = json.loads(row.data) if row else {}
    context = recipient_context(sub.id, sub.address, sub.name, fields, "preview",  # type: ignore[arg-type]
                                _unsubscribe_example(settings))
    try:
        rendered = CampaignTemplate(subject, html, text).render(context)
    except TemplateProblem as exc:
        return Preview(sub.address, error=str(exc))
    body = sanitize(rendered.html)[0] if rendered.html else ""
    return Preview(sub.address, rendered.subject, rendered.text, frame_document(body, remote=False) if body else "")


class TemplatesController(Controller):
    path = "/templates"

    @get("/", sync_to_thread=True, media_type=MediaType.HTML)
    def index(self, ctx: Ctx, request: Request[Any, Any, Any]) -> Template:
        with ctx.store.reader() as session:
            rows = list(session.execute(select(MailTemplate).order_by(MailTemplate.name)).scalars())
        return page(request, "templates.html", templates=rows)

    @get("/new", sync_to_thread=False, media_type=MediaType.HTML)
    def new(self, request: Request[Any, Any, Any]) -> Template:
        return page(request, "template_edit.html", t={"name": "", "subject": "", "html": "", "text": ""},
                    is_new=True, preview=None, error="")

    @get("/{name:str}", sync_to_thread=True, media_type=MediaType.HTML)
    def show(self, ctx: Ctx, request: Request[Any, Any, Any], name: NameParam,
             subscriber: Annotated[str, QueryParameter(max_length=320)] = "") -> Template:
        with ctx.store.reader() as session:
            row = session.execute(select(MailTemplate).where(MailTemplate.name == name)).scalars().first()
            if row is None:
                raise NotFoundException(f"no template {name!r}")
            shown = render_preview(session, ctx.settings, row.subject, row.html, row.text_body, subscriber)
        return page(request, "template_edit.html", csp=review_csp(False), is_new=False, preview=shown, error="",
                    t={"name": row.name, "subject": row.subject, "html": row.html, "text": row.text_body},
                    updated=row.updated_at)

    @post("/", opt=WRITE, sync_to_thread=True, media_type=MediaType.HTML, status_code=303)
    def save(self, ctx: Ctx, request: Request[Any, Any, Any], data: Form) -> Response[Any]:
        """Save (``action=save``) or only preview (``action=preview``) what the form holds."""
        checked(request, data)
        t = {k: (data.get(k) or "").replace("\r\n", "\n") for k in ("name", "subject", "html", "text")}
        t["name"] = t["name"].strip()
        if not t["name"] or len(t["name"]) > 255 or any(len(t[k]) > MAX_PART for k in ("subject", "html", "text")):
            raise ValidationException("a template needs a name (at most 255 characters) and parts under 1 MB")
        address = (data.get("subscriber") or "").strip()[:320]
        error = ""
        if data.get("action") != "preview":
            try:
                save_template(ctx.store, t["name"], t["subject"], t["html"], t["text"])
            except TemplateProblem as exc:
                error = str(exc)
            else:
                actor, addr = actor_and_address(request)
                with ctx.store.transaction() as session:
                    oplog.record(session, actor, addr, "template.save", t["name"], subject=t["subject"][:200])
                return back(f"{ROOT}/templates/{quote(t['name'], safe='')}", "saved", subscriber=address)
        with ctx.store.reader() as session:
            shown = render_preview(session, ctx.settings, t["subject"], t["html"], t["text"], address)
            exists = session.execute(select(MailTemplate.id).where(MailTemplate.name == t["name"])).first() is not None
        return page(request, "template_edit.html", csp=review_csp(False), status_code=400 if error else 200,
                    is_new=not exists, preview=shown, error=error, t=t, unsaved=True)
