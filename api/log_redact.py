"""Keep credentials out of every log line the API process writes.

Why: the one-click unsubscribe URL carries its credential in the path
(``/unsubscribe/<token>``), and a careless client may put an API key in a
query string (``?api_key=...``) even though we never read it from there.
uvicorn's access log prints the full path and query of every request, so
without this filter both would land in log files, which are read by more
people than keys are. The filter sits on the log *handlers*, so it covers
records of every logger (uvicorn's access and error logs, Litestar's, ours).
"""

from __future__ import annotations

import logging
import re
from typing import Any

MASK = "[redacted]"
_PATTERNS = [
    # The unsubscribe token is a path segment; keep the route so the line still says what happened.
    (re.compile(r"(/unsubscribe/)[^/?#\s\"']+"), r"\1" + MASK),
    # Anything that looks like a key, token, password or secret in a query string.
    (re.compile(r"([?&;](?:[\w.-]*(?:key|token|secret|password|passwd|auth)[\w.-]*)=)[^&;#\s\"']*", re.IGNORECASE), r"\1" + MASK),
    # Our keys by shape (rmk_<lookup>_<secret>) and bearer credentials, wherever they appear.
    (re.compile(r"\brmk_[A-Za-z0-9_-]{6,}"), "rmk_" + MASK),
    (re.compile(r"(\bbearer\s+)[^\s\"',;]+", re.IGNORECASE), r"\1" + MASK),
]


def redact(text: str) -> str:
    """``text`` with unsubscribe tokens, key-like query values, API keys and bearer tokens masked."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _clean(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


class RedactSecrets(logging.Filter):
    """Rewrite a record's message and string arguments in place; never drops a record.

    The arguments are redacted one by one (rather than formatting the message
    once) because uvicorn's access formatter reads them positionally.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_clean(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _clean(v) for k, v in record.args.items()}
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
