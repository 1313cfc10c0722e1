"""Messages from paths given on the command line: files, folders, Maildirs, mbox.

Streams: one message in memory at a time, whatever the size of the mbox, so a
100k-message import runs in constant memory. Each message is labelled the way
the ``classify --jsonl`` contract names it: the .eml path, or the
mbox/Maildir path + ``#`` + its key.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

#: A message larger than this is read whole anyway; this is only the read buffer.
_CHUNK = 1 << 16


@dataclass
class RawItem:
    """One message read from a path, or the reason it could not be read."""

    label: str
    raw: bytes
    error: str | None = None
    #: A file found in a folder (not named on the command line, not a Maildir or mbox entry):
    #: the command line skips it when it is not mail (a README, a LICENSE).
    in_folder: bool = False


def is_maildir(path: Path) -> bool:
    return path.is_dir() and (path / "cur").is_dir() and (path / "new").is_dir()


def is_mbox(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(5) == b"From "
    except OSError:
        return False


def iter_paths(paths: Iterable[str | Path]) -> Iterator[RawItem]:
    """Every message under ``paths``, in a stable order."""
    for given in paths:
        path = Path(given)
        if is_maildir(path):
            yield from iter_maildir(path)
        elif path.is_dir():
            yield from _iter_folder(path)
        elif not path.exists():
            yield RawItem(str(path), b"", error=f"{path}: no such file or directory")
        elif is_mbox(path):
            yield from iter_mbox(path)
        else:
            yield _read_file(path)


def _iter_folder(folder: Path) -> Iterator[RawItem]:
    """Files of a folder (recursively), Maildirs and mbox files found inside it included."""
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        if is_maildir(here):
            dirs[:] = []
            yield from iter_maildir(here)
            continue
        dirs.sort()
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = here / name
            yield from iter_mbox(path) if is_mbox(path) else [_read_file(path, in_folder=True)]


def iter_maildir(path: Path) -> Iterator[RawItem]:
    """Messages of a Maildir (new/ then cur/), keyed by file name without flags."""
    for sub in ("new", "cur"):
        folder = path / sub
        for name in sorted(os.listdir(folder)):
            if name.startswith("."):
                continue
            key = name.split(":2,", 1)[0]
            item = _read_file(folder / name)
            yield RawItem(f"{path}#{key}", item.raw, item.error)


def iter_mbox(path: Path) -> Iterator[RawItem]:
    """Messages of an mbox file, keyed by their 0-based position, streamed."""
    index = 0
    current: list[bytes] | None = None
    previous_blank = True
    try:
        with path.open("rb", buffering=_CHUNK) as handle:
            for line in handle:
                if line.startswith(b"From ") and previous_blank:
                    if current is not None:
                        yield RawItem(f"{path}#{index}", _unmangle(current))
                        index += 1
                    current, previous_blank = [], False
                    continue  # the envelope line is not part of the message
                if current is None:
                    current = []
                current.append(line)
                previous_blank = line in (b"\n", b"\r\n")
    except OSError as exc:
        yield RawItem(f"{path}#{index}", b"", error=f"{path}: cannot read: {exc}")
        return
    if current is not None:
        yield RawItem(f"{path}#{index}", _unmangle(current))


def _unmangle(lines: list[bytes]) -> bytes:
    """Undo mboxrd ``>From`` quoting and drop the separator's blank line."""
    if lines and lines[-1] in (b"\n", b"\r\n"):
        lines = lines[:-1]
    return b"".join(
        line[1:] if line.startswith(b">") and line.lstrip(b">").startswith(b"From ") else line for line in lines
    )


def _read_file(path: Path, in_folder: bool = False) -> RawItem:
    try:
        return RawItem(str(path), path.read_bytes(), in_folder=in_folder)
    except OSError as exc:
        return RawItem(str(path), b"", error=f"{path}: cannot read: {exc}")
