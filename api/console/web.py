"""What every console page shares: the page response, the form token, time ranges, paging, errors.

Pages are server-rendered (Jinja2, autoescaped) under :data:`CONSOLE_CSP`,
behind the review page's sign-in (the page interface of :mod:`api.auth`:
``PAGE_OPT``, ``form_token``, ``check_csrf``); every form posts the
session's token, and every change answers with a
redirect to a page (post/redirect/get) carrying a short notice code, never
free text from the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Request
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException, PermissionDeniedException, ValidationException
from litestar.params import Body, QueryParameter
from litestar.response import Redirect, Response, Template

from api import ranges
from api.auth import PAGE_OPT, check_csrf, form_token
from api.console.charts import swatch
from api.keys import Caller
from api.security_headers import CONSOLE_CSP, page_headers

ROOT = "/console"
#: Every console handler: signed in (the review page's session, or a key header) with at least ``read``.
READ_OPT: dict[str, Any] = PAGE_OPT
WRITE: dict[str, Any] = {"scope": "write"}
ADMIN: dict[str, Any] = {"scope": "admin"}
Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
Upload = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]
#: The time-range parameters of every page that has one (the API's names; dates from ``<input type=date>``).
RangeQ = Annotated[str | None, QueryParameter(name="range", max_length=16)]
DayQ = Annotated[str | None, QueryParameter(max_length=10)]

#: The navigation, in order: (path, label, scope needed to see it).
NAV = [
    ("", "Dashboard", "read"),
    ("/lists", "Lists & subscribers", "read"),
    ("/templates", "Templates", "read"),
    ("/campaigns", "Campaigns", "read"),
    ("/sending", "Sending", "read"),
    ("/failures", "Failures", "read"),
    ("/oplog", "Operation log", "admin"),
    ("/keys", "Keys", "admin"),
]

#: What a redirect may announce (``?done=<code>``): fixed texts, so nothing from a request is reflected.
NOTICES = {
    "saved": "Saved.",
    "created": "Created.",
    "queued": "Queued: the campaign is sending (this page refreshes by itself).",
    "scheduled": "Scheduled.",
    "paused": "Paused: the run stops after its current batch.",
    "resumed": "Resumed.",
    "not_paused": "Nothing to change: the campaign is not in that state.",
    "resubscribed": "Re-subscribed: the address is active again.",
    "revoked": "The key is revoked.",
}


def caller(request: Request[Any, Any, Any]) -> Caller:
    found = getattr(request.state, "caller", None)
    assert found is not None, "console handlers run behind require_scope"
    return found


def checked(request: Request[Any, Any, Any], data: dict[str, Any]) -> dict[str, Any]:
    """``data`` after the form token was checked (403 when it is missing or wrong)."""
    check_csrf(request, data.get("csrf") if isinstance(data.get("csrf"), str) else None)
    return data


def page(request: Request[Any, Any, Any], template_name: str, *, status_code: int = 200, csp: str = CONSOLE_CSP,
         **context: Any) -> Template:
    """A console page: the template ``console/<name>`` with who is signed in and what they may do."""
    who = getattr(request.state, "caller", None)
    done = request.query_params.get("done", "")
    base = {
        "who": who.name if who else "", "scope": who.scope if who else "",
        "can_write": bool(who and who.allows("write")), "is_admin": bool(who and who.allows("admin")),
        "csrf": form_token(request) if who else "", "path": request.url.path, "root": ROOT,
        "nav": [(ROOT + p, label) for p, label, scope in NAV if who and who.allows(scope)],
        "notice": NOTICES.get(done, ""), "swatch": swatch,
    }
    return Template(f"console/{template_name}", context={**base, **context}, headers=page_headers(csp), status_code=status_code)


def back(path: str, done: str = "", **query: Any) -> Redirect:
    """303 to a console page (post/redirect/get), with a notice code."""
    params = {k: v for k, v in query.items() if v not in (None, "")}
    if done:
        params["done"] = done
    return Redirect(path=path + (f"?{urlencode(params)}" if params else ""), status_code=303)


def html_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Errors under /console as a page (the API's are JSON): what went wrong, and a way back."""
    detail = exc.detail
    if isinstance(exc, PermissionDeniedException) and "scope" in str(detail):
        detail = f"{detail}. Sign in with a key that has that scope."
    extra = getattr(exc, "extra", None)
    if isinstance(exc, ValidationException) and extra:
        detail = f"{detail}: " + "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in extra)
    return page(request, "error.html", status_code=exc.status_code, status=exc.status_code, detail=detail)


@dataclass(frozen=True)
class Span:
    """A range of whole UTC days, as the API's ``range``/``since``/``until`` parameters give it."""

    first: date
    last: date
    period: str

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def query(self) -> dict[str, str]:
        """The parameters that give this span again (for links and forms)."""
        if self.period == "custom":
            return {"since": self.first.isoformat(), "until": self.last.isoformat()}
        return {"range": self.period}

    def qs(self, **more: Any) -> str:
        return urlencode({**self.query(), **{k: v for k, v in more.items() if v not in (None, "")}})

    def label(self) -> str:
        if self.first == self.last:
            return self.first.isoformat()
        return f"{self.first.isoformat()} – {self.last.isoformat()}"


def span(period: str | None, since: str | None, until: str | None, default: str = "30d") -> Span:
    """The days asked for; the API's rules (:func:`api.ranges.resolve`), dates from HTML date inputs."""
    first_day = _date(since, "since")
    last_day = _date(until, "until")
    if period == "custom" and first_day is None and last_day is None:
        period = None
    if period not in (None, *ranges.PERIODS):
        raise ValidationException(f"range must be one of {', '.join(ranges.PERIODS)}")
    first, last = ranges.resolve(period, first_day, last_day, default=default)
    named = period if period and period != "custom" else ("custom" if first_day or last_day else default)
    return Span(first, last, named)


def _date(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationException(f"{name} must be a date such as 2026-11-01, not {value[:40]!r}") from None


def parse_when(value: str) -> datetime:
    """A ``datetime-local`` input (UTC) as an aware datetime."""
    from datetime import UTC

    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValidationException(f"{value[:40]!r} is not a time such as 2026-05-01T09:00") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def positive_int(value: Any, name: str, default: int = 0, maximum: int = 10**9) -> int:
    if value in (None, ""):
        return default
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValidationException(f"{name} must be a whole number") from None
    if number < 0 or number > maximum:
        raise ValidationException(f"{name} must be between 0 and {maximum}")
    return number


def starts_with(column: Any, prefix: str, store: Any) -> Any:
    """``column`` begins with ``prefix`` (case as stored), answered from the column's index where it can be.

    A range ``[prefix, prefix + U+10FFFF)`` walks the index in order, but is right only
    where strings sort by code point: SQLite's binary collation, PostgreSQL's C,
    POSIX and C.UTF-8. Under a linguistic collation PostgreSQL answers with LIKE
    alone (right, but a pass over the table).
    """
    upper = prefix + "\U0010ffff"
    if store.dialect == "sqlite":
        return (column >= prefix) & (column < upper)
    like = column.startswith(prefix, autoescape=True)
    return ((column >= prefix) & (column < upper) & like) if _code_point_order(store) else like


_CODE_POINT_COLLATIONS = {"c", "posix", "c.utf-8", "c.utf8", "ucs_basic"}
_collation_of: dict[str, bool] = {}


def _code_point_order(store: Any) -> bool:
    """Whether the PostgreSQL database's default collation sorts by code point (asked once per database)."""
    from sqlalchemy import text

    key = str(store.engine.url)
    if key not in _collation_of:
        with store.engine.connect() as conn:
            collation = conn.execute(text("SELECT datcollate FROM pg_database WHERE datname = current_database()")).scalar()
        _collation_of[key] = str(collation or "").lower() in _CODE_POINT_COLLATIONS
    return _collation_of[key]
