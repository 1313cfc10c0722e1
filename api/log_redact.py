"""Keep credentials and forged lines out of every log line the API process writes.

Why: the one-click unsubscribe URL carries its credential in the path
(``/unsubscribe/<token>``), a careless client may put an API key in a query
string, and every request target is attacker-chosen text. uvicorn's access log
prints the raw target (still percent-encoded), our own lines print decoded
paths, and exception messages quote whatever they were given. So one step,
:func:`redact`, runs on every value of every record (the filter sits on the
log *handlers*: uvicorn's access and error logs, Litestar's, ours):

1. any run of text holding a percent escape is decoded first (repeatedly:
   ``%2575`` is ``%75`` is ``u``), so ``/%75nsubscribe/<token>`` and
   ``?q=rmk%5F...`` are seen as what the router and the key check see;
2. secrets are masked in that decoded view: the token after ``unsubscribe/``
   (however many slashes), the value of a parameter whose name says key,
   token, secret, password or auth, anything shaped like our keys
   (``rmk_...``) and ``Bearer``/``Basic`` credentials; a decoded run is then
   encoded again (canonically: printable ASCII stays, the rest is ``%XX``),
   so an access log stays one parseable line per request;
3. control characters left anywhere (a newline in an exception message, a
   NUL, a bidi override) are escaped as ``\\xNN``/``\\uNNNN``: no value can
   start a forged line or hide text.

Tracebacks go through the same step: the exception messages in them are
redacted and escaped, the frames keep their line structure.
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any
from urllib.parse import quote, unquote

from responsemaster.control_chars import escape_controls

MASK = "[redacted]"
_SECRET_NAME = r"[\w.-]*(?:key|token|secret|password|passwd|auth)[\w.-]*"
_PATTERNS = [
    # The unsubscribe token is a path segment (``//`` still routes); keep the route so the line says what happened.
    (re.compile(r"(unsubscribe)/+[^/?#\s\"']+", re.IGNORECASE), r"\1/" + MASK),
    # Anything that looks like a key, token, password or secret in a query string or a form.
    (re.compile(rf"([?&;]{_SECRET_NAME}=)[^&;#\s\"']*", re.IGNORECASE), r"\1" + MASK),
    # Our keys by shape (rmk_<lookup>_<secret>), glued to other text or not, and HTTP credentials.
    (re.compile(r"rmk_[A-Za-z0-9_-]{6,}", re.IGNORECASE), "rmk_" + MASK),
    (re.compile(r"(\b(?:bearer|basic)[\s+:=]+)[^\s\"',;&]+", re.IGNORECASE), r"\1" + MASK),
]
#: A run of non-space text holding at least one percent escape: a URL, a query, a form value.
_ENCODED_RUN = re.compile(r"[^\s\"']*%[0-9A-Fa-f]{2}[^\s\"']*")
#: What stays readable when a decoded run is encoded again (RFC 3986 reserved and unreserved, and the mask).
_URL_SAFE = "/?#[]@!$&'()*+,;=:~-._"


def redact(text: str) -> str:
    """``text`` with secrets masked (in its percent-decoded view) and control characters escaped."""
    text = _ENCODED_RUN.sub(_canonical_run, text)
    return escape_controls(_mask(text))


def _mask(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _decode(run: str) -> str:
    for _ in range(4):  # nested encodings; a few rounds reach any spelling a router would accept
        decoded = unquote(run, errors="backslashreplace")
        if decoded == run:
            break
        run = decoded
    return run


def _canonical_run(match: re.Match[str]) -> str:
    return quote(_mask(_decode(match.group(0))), safe=_URL_SAFE)


def _clean(value: Any) -> Any:
    if isinstance(value, bool | int | float) or value is None:
        return value  # %d and %f need numbers; they carry nothing to hide
    return redact(value if isinstance(value, str) else str(value))


def safe_traceback(exc_info: Any) -> str:
    """The traceback text with every exception message (and note) redacted and escaped: frames stay lines."""
    top = traceback.TracebackException(*exc_info[:3])
    pending, seen = [top], set()
    while pending:
        te = pending.pop()
        if te is None or id(te) in seen:
            continue
        seen.add(id(te))
        if isinstance(getattr(te, "_str", None), str):
            te._str = redact(te._str)
        if getattr(te, "__notes__", None):
            te.__notes__ = [redact(str(n)) for n in te.__notes__]
        pending += [te.__cause__, te.__context__, *(getattr(te, "exceptions", None) or [])]
    return "".join(redact(line.rstrip("\n")) + "\n" for line in top.format()).rstrip("\n")


class RedactSecrets(logging.Filter):
    """Rewrite a record's message, arguments and traceback in place; never drops a record.

    The arguments are redacted one by one (rather than formatting the message
    once) because uvicorn's access formatter reads them positionally.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.msg if isinstance(record.msg, str) else str(record.msg)
        # A format string with arguments is the developer's text (secrets come in the arguments):
        # decoding or masking it could break its %-placeholders, so it is only escaped.
        record.msg = escape_controls(msg) if record.args else redact(msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_clean(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _clean(v) for k, v in record.args.items()}
        if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
            record.exc_text = safe_traceback(record.exc_info)
        return True


def install() -> None:
    """Put the filter on every handler configured so far (root, uvicorn, Litestar), once each.

    Called when the app starts, i.e. in each server process after uvicorn and
    Litestar have configured logging.
    """
    loggers: list[logging.Logger] = [logging.getLogger()]
    loggers += [lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    for logger in loggers:
        for handler in logger.handlers:
            if not any(isinstance(f, RedactSecrets) for f in handler.filters):
                handler.addFilter(RedactSecrets())
