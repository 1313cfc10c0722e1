"""Big ``re`` patterns compiled once per machine: the engine's code is kept on disk, keyed by the pattern.

Why: ``re.compile`` parses a pattern and writes the regular-expression
engine's code in Python (``re._parser``, ``re._compiler``). For the message
model's tokenizer (spaCy's prefix, suffix, infix and URL expressions, 2,800
to 15,500 characters each) that is about 60 ms at the first message the
model reads: a quarter of a one-file ``classify`` of a reply, and CPU that the
``--jobs`` parent takes from its children. The code is a list of integers
that ``_sre.compile`` takes as it is (0.13 ms for those four patterns), so it
is kept in ``<cache>/re-<python>-<engine magic>/<sha256>.json`` and read back
next time.

Why it is safe to be wrong: the code is written only when the engine built
from it equals (``==``: pattern, flags and code) what ``re.compile`` gives;
``_sre.compile`` validates any code it is handed, so a damaged file is an
error, after which the pattern is compiled as usual and the file written
again; the folder is named after the Python version and the engine's
``MAGIC``, so another Python never reads it; the file names the pattern it was
compiled from, and serves no other. The cache is
``$RESPONSEMASTER_CACHE_DIR``, else ``$XDG_CACHE_HOME/responsemaster``, else
``~/.cache/responsemaster``; ``off``, or a folder that cannot be written,
means compiling every time. A file is written whole (a temporary file
renamed into place), so processes sharing the folder never read half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

try:  # CPython's engine and the compiler that feeds it; without them, re.compile as usual
    import _sre
    from re import _compiler, _parser
except ImportError:  # pragma: no cover - another Python
    _sre = None  # type: ignore[assignment]

ENV = "RESPONSEMASTER_CACHE_DIR"
#: Shorter patterns are compiled as usual: ``re`` compiles them in well under a millisecond.
MIN_CHARS = 1_000


def compile_cached(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """``re.compile(pattern, flags)``, its code read from the cache when it is there (written when not)."""
    folder = cache_folder()
    if folder is None or _sre is None or len(pattern) < MIN_CHARS:
        return re.compile(pattern, flags)
    flags = int(flags)
    path = folder / f"{hashlib.sha256(f'{flags}:{pattern}'.encode('utf-8', 'surrogatepass')).hexdigest()}.json"
    try:
        parts = json.loads(path.read_text("utf-8"))
        if parts["pattern"] == pattern:  # not another pattern's file (copied, renamed)
            return _build(pattern, parts)
    except (OSError, ValueError, TypeError, RuntimeError, KeyError):  # absent or damaged: compile, write
        pass
    compiled = re.compile(pattern, flags)
    try:
        parts = _parts(pattern, flags)
        if _build(pattern, parts) == compiled:
            _write(path, parts)
    except Exception:  # noqa: BLE001 - the cache is an optimisation: never a reason to fail
        pass
    return compiled


def cache_folder() -> Path | None:
    """Where this Python's compiled patterns are kept; None when the cache is off."""
    configured = os.environ.get(ENV, "")
    if configured.lower() == "off":
        return None
    try:
        if configured:
            root = Path(configured).expanduser()
        else:
            root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "responsemaster"
    except RuntimeError:  # no home directory to expand or to default to
        return None
    magic = getattr(_sre, "MAGIC", "none")
    return root / f"re-{sys.implementation.cache_tag}-{magic}"


def _parts(pattern: str, flags: int) -> dict[str, Any]:
    """What ``re._compiler.compile`` hands ``_sre.compile``, as JSON-ready values."""
    parsed = _parser.parse(pattern, flags)
    code = _compiler._code(parsed, flags)
    names = dict(parsed.state.groupdict)
    by_index: list[str | None] = [None] * parsed.state.groups
    for name, index in names.items():
        by_index[index] = name
    return {"pattern": pattern, "flags": flags | parsed.state.flags, "code": list(code),
            "groups": parsed.state.groups - 1, "names": names, "by_index": by_index}


def _build(pattern: str, parts: dict[str, Any]) -> re.Pattern[str]:
    return _sre.compile(pattern, parts["flags"], parts["code"], parts["groups"], parts["names"],
                        tuple(parts["by_index"]))


def _write(path: Path, parts: dict[str, Any]) -> None:
    """``parts`` into ``path``, whole or not at all; a folder that cannot be written is left alone."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(parts, out, separators=(",", ":"))
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError:
        pass
