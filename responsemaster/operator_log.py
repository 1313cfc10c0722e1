"""The lines ``run`` writes for the person watching it: a verdict per message, a count per batch.

On a terminal they go through rich (colour, a time column). Into a file or a
pipe they are plain text, one line each, with the time in front and no
padding: what ``grep`` and a log shipper expect.
"""

from __future__ import annotations

import sys
import time
from typing import Any

_console: list[Any] = []


def say(markup: str) -> None:
    """One line on stderr; ``markup`` is rich markup (escape anything taken from a message)."""
    if not _console:
        from rich.console import Console

        console = Console(stderr=True, log_path=False)
        _console.append(console if console.is_terminal else None)
    console = _console[0]
    if console is not None:
        console.log(markup, highlight=False)
        return
    from rich.text import Text

    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {Text.from_markup(markup).plain}\n")
    sys.stderr.flush()


def safe(value: str, limit: int = 80) -> str:
    """A value from a message, fit for a line: control characters replaced, markup escaped, cut to ``limit``."""
    from rich.markup import escape

    text = "".join(c if c.isprintable() else "?" for c in value)
    return escape(text if len(text) <= limit else text[: limit - 1] + "…")
