"""What the API refuses with a 400 before a handler sees it: bad targets, over-deep JSON, loose numbers, bad dates.

Each of these was a 500 (a traceback in the log, sometimes with the hostile
text in it) or a silent alias of another URL:

* a request target whose path or query string decodes to a control
  character (``%00``, ``%0a``), to bytes that are not UTF-8, or that holds a
  ``%`` not followed by two hex digits: refused before routing, for every
  route (:func:`reject_malformed_targets`);
* JSON nested deeper than the decoder's recursion limit (``[[[[...]]]]``,
  1,000 deep): :class:`StrictRequest`;
* a number in a path spelled any way but plain ASCII digits (``int()``
  accepts ``٣``, ``+3``, ``3_0`` and `` 3``, so ``/review/٣`` was item 3):
  :func:`strict_path_numbers`, a guard on every route;
* an instant or a day the database cannot hold once converted to UTC
  (``0001-01-01T00:00:00+05:00``, ``9999-12-31T23:59:59-05:00``):
  :func:`utc_instant`, used by every handler taking a timestamp.
"""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_to_bytes

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import ClientException, ValidationException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import ASGIApp, Receive, Scope, Send

from responsemaster.control_chars import has_control

_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_CANONICAL_NUMBER = re.compile(r"0|[1-9][0-9]{0,18}")


def target_problem(scope: Scope) -> str | None:
    """Why the request target is unacceptable, or None."""
    raw_path = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "surrogateescape")
    for name, part in (("path", raw_path), ("query string", scope.get("query_string", b""))):
        if not part:
            continue
        if _BAD_ESCAPE.search(part):
            return f"the {name} holds a '%' that is not followed by two hex digits"
        try:
            text = unquote_to_bytes(part).decode("utf-8")
        except UnicodeDecodeError:
            return f"the {name} is not UTF-8 once decoded"
        if has_control(text):
            return f"the {name} contains a control character"
    return None


#: Where people (not programs) land: their errors are pages.
_PAGES = ("/unsubscribe/", "/review", "/console")


def _answer(scope: Scope, problem: str) -> tuple[bytes, bytes]:
    """The 400 in the form its surface documents: JSON for the API, a page for pages, text for one-click POSTs."""
    path = str(scope.get("path", ""))
    if not path.startswith(_PAGES):
        return b"application/json", json.dumps({"status_code": 400, "detail": problem}).encode()
    accepts_html = any(b"text/html" in value for name, value in scope.get("headers", []) if name == b"accept")
    if path.startswith("/unsubscribe/") and scope.get("method") == "POST" and not accepts_html:
        return b"text/plain; charset=utf-8", f"This link is malformed: {problem}. Nothing was changed.\n".encode()
    page = (f"<!doctype html><meta charset=utf-8><title>Bad request</title><h1>Bad request</h1>"
            f"<p>This address is malformed: {html.escape(problem)}. Nothing was changed.</p>")
    return b"text/html; charset=utf-8", page.encode()


def reject_malformed_targets(app: ASGIApp) -> ASGIApp:
    """Wrap the app: a malformed target gets a 400 whatever route it would have reached (or not)."""

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        problem = target_problem(scope) if scope["type"] == "http" else None
        if problem is None:
            await app(scope, receive, send)
            return
        content_type, body = _answer(scope, problem)
        await send({"type": "http.response.start", "status": 400, "headers": [
            (b"content-type", content_type), (b"content-length", str(len(body)).encode()),
            (b"x-content-type-options", b"nosniff"), (b"cache-control", b"no-store"),
            (b"content-security-policy", b"default-src 'none'")]})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return guarded


class StrictRequest(Request[Any, Any, Any]):
    """A request whose JSON body may not be nested past the decoder's limit (a 400, not a RecursionError)."""

    async def json(self) -> Any:
        try:
            return await super().json()
        except RecursionError:
            raise ClientException("the JSON body is nested too deeply") from None


async def strict_path_numbers(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Guard: every number in the path is plain ASCII digits, no sign, no leading zero, no ``_`` or space.

    The router has already turned ``{name:int}`` segments into ints (with
    ``int()``, which is lenient); this compares the segment as sent.
    """
    params = connection.scope.get("path_params") or {}
    numbers = {name for name, value in params.items() if type(value) is int}
    if not numbers:
        return
    template = str(connection.scope.get("path_template") or "").strip("/").split("/")
    for spelled, sent in zip(template, connection.scope["path"].strip("/").split("/"), strict=False):
        if spelled[1:-1] in numbers and not _CANONICAL_NUMBER.fullmatch(sent):
            raise ValidationException(f"{spelled[1:-1]} must be written in plain digits, got {sent[:40]!r}")


def plain_id(text: str) -> int | None:
    """``text`` as a row id when it is one in plain ASCII digits (``"42"``), else None (``"²"``, ``"+4"``, ``"٤٢"``)."""
    return int(text) if _CANONICAL_NUMBER.fullmatch(text) and text != "0" else None


def utc_instant(value: datetime | None, name: str) -> datetime | None:
    """``value`` in UTC, or a 400 when it falls outside the years a timestamp can hold (1-9999) in UTC."""
    if value is None:
        return None
    try:
        return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
    except OverflowError:
        raise ValidationException(f"{name} is out of range once converted to UTC: {value.isoformat()}") from None
