"""mbox files and single message files, for one-off imports.

The files are never rewritten: an import must not be able to damage the
archive it reads. Progress is kept instead in a small JSON state file: per
file, a watermark (every message before it is done) plus the done messages
after it, since acks may arrive out of order. A restarted import skips what is
done and fetches the rest; the store's (source, key) uniqueness absorbs the
replay of anything acked but not yet recorded.

Keys are the labels ``classify`` prints for the same inputs: ``<path>#<n>``
(0-based position) inside an mbox, the path itself for a single file. mbox
files are read as append-only: positions of existing messages must not change
between runs. Quarantine copies the message, byte for byte, into the
quarantine Maildir with a ``reasons/<name>.reason.json`` record beside it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from responsemaster.ingest.maildir_io import (
    deliver,
    ensure_maildir,
    write_json_atomic,
    write_quarantine_reason,
)
from responsemaster.ingest.paths import RawItem, is_mbox, iter_mbox
from responsemaster.ingest.source import RawMessage

log = logging.getLogger(__name__)


def split_key(key: str) -> tuple[str, int]:
    """(file, position) of a key; a single file is position 0 of itself."""
    container, sep, index = key.rpartition("#")
    if sep and index.isascii() and index.isdigit():
        return container, int(index)
    return key, 0


class _Progress:
    """Done positions per file: a watermark plus the out-of-order ones above it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.files: dict[str, dict[str, Any]] = {}
        self.quarantined = 0
        if path.exists():
            data = json.loads(path.read_text(encoding="utf-8"))
            self.files = data.get("files", {})
            self.quarantined = int(data.get("quarantined", 0))

    def is_done(self, key: str) -> bool:
        container, index = split_key(key)
        state = self.files.get(container)
        return state is not None and (index < state["next"] or index in state["extra"])

    def mark(self, key: str) -> None:
        container, index = split_key(key)
        state = self.files.setdefault(container, {"next": 0, "extra": []})
        extra = set(state["extra"]) | {index}
        while state["next"] in extra:
            extra.discard(state["next"])
            state["next"] += 1
        state["extra"] = sorted(i for i in extra if i >= state["next"])

    def done_count(self) -> int:
        return sum(state["next"] + len(state["extra"]) for state in self.files.values())

    def save(self) -> None:
        write_json_atomic(self.path, {"files": self.files, "quarantined": self.quarantined})


class MboxSource:
    """mbox files and single .eml files imported once, in order."""

    def __init__(self, name: str, paths: Iterable[Path | str], *, state_file: Path, quarantine: Path) -> None:
        self.name = name
        self.paths = [Path(p) for p in paths]
        self.quarantine_dir = ensure_maildir(Path(quarantine))
        self.progress = _Progress(Path(state_file))
        self._stream: Iterator[RawItem] | None = None
        #: Fetched, not yet acked: key -> bytes (for quarantine copies).
        self._inflight: dict[str, bytes] = {}

    def fetch(self, limit: int) -> list[RawMessage]:
        """The next ``limit`` messages not done, streamed (one pass over the files per run)."""
        if self._stream is None:
            self._stream = self._items()
        batch: list[RawMessage] = []
        for item in self._stream:
            if self.progress.is_done(item.label) or item.label in self._inflight:
                continue
            if item.error:
                self._inflight[item.label] = item.raw
                self.quarantine(item.label, item.error)
                continue
            self._inflight[item.label] = item.raw
            batch.append(RawMessage(self.name, item.label, item.raw))
            if len(batch) >= limit:
                break
        return batch

    def ack(self, key: str) -> None:
        """Record the message as done (the file itself is left as it is)."""
        self._inflight.pop(key, None)
        self.progress.mark(key)
        self.progress.save()

    def quarantine(self, key: str, reason: str) -> None:
        """Copy the message out to quarantine with its reason, and count it done."""
        raw = self._inflight.get(key)
        if raw is None:
            raw = self._read(key)
        path = deliver(self.quarantine_dir, raw)
        write_quarantine_reason(
            self.quarantine_dir, path.name, source=self.name, key=key, reason=reason, data=raw, file=f"new/{path.name}"
        )
        self.progress.quarantined += 1
        self.ack(key)

    def pending(self) -> int:
        """Messages not done yet (counts by streaming the files once)."""
        return sum(1 for item in self._items() if not self.progress.is_done(item.label))

    def quarantined(self) -> int:
        return self.progress.quarantined

    def processed(self) -> int:
        return self.progress.done_count() - self.progress.quarantined

    def close(self) -> None:
        self._stream = None
        self._inflight.clear()

    def _items(self) -> Iterator[RawItem]:
        for path in self.paths:
            files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
            for file in files:
                if not file.exists():
                    yield RawItem(str(file), b"", error=f"{file}: no such file")
                elif is_mbox(file):
                    yield from iter_mbox(file)
                else:
                    try:
                        yield RawItem(str(file), file.read_bytes())
                    except OSError as exc:
                        yield RawItem(str(file), b"", error=f"{file}: cannot read: {exc}")

    def _read(self, key: str) -> bytes:
        """A message not in flight (quarantine of a key fetched by an earlier run)."""
        for item in self._items():
            if item.label == key:
                return item.raw
        raise KeyError(f"{self.name}: no message {key!r}")
