"""A person's correction becomes training data: the one way the review page, the API and ``label`` write it.

A corrected message is one file, ``training_data/<category>/review--<sha256>.eml``
(the folder is the message's label; correcting it again moves it, so a
message never has two labels), and one row appended to
``training_data/relabels.jsonl``: the ``SOURCES.jsonl`` keys (file, category,
reason, source, licence) plus ``recipients`` (the recipient-level labels:
address, category, reason), ``previous``, ``by``, ``at``, ``sha256``,
``message_uid`` and ``note``. The loader reads the latest row per file, so a
second correction of another recipient of the same message adds to the
first. ``source`` says who corrected: ``review:<message uid>`` from the
review queue, ``label:<user>`` from the shell; both mark the example as a
correction, which the recipient model weighs more and remembers exactly.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from responsemaster.categories import CATEGORIES, REASON_TO_CATEGORY
from responsemaster.classify.model.dataset import CORRECTIONS as MANIFEST
from responsemaster.classify.model.dataset import RecipientLabel

PREFIX = "review--"
LICENCE = "reviewed returned mail (operator's own)"


class CorrectionError(ValueError):
    """A correction names an unknown category, or a reason of another category."""


def correction_name(sha256: str) -> str:
    return f"{PREFIX}{sha256}.eml"


def check_label(category: str, reason: str = "") -> None:
    if category not in CATEGORIES:
        raise CorrectionError(f"unknown category {category!r} (one of {', '.join(CATEGORIES)})")
    if reason and REASON_TO_CATEGORY.get(reason) != category:
        owner = REASON_TO_CATEGORY.get(reason)
        raise CorrectionError(f"reason {reason!r} belongs to {owner}, not {category}" if owner
                              else f"unknown reason {reason!r}")


def write_correction(data_dir: Path, raw: bytes, sha256: str, category: str, *, by: str, source: str,
                     previous: str = "", reason: str = "", recipients: Iterable[RecipientLabel] = (),
                     message_uid: str = "", note: str = "") -> str:
    """Write the message under ``category`` (moving an earlier correction) and log the row; the relative path.

    ``recipients`` are recipient-level labels; they are merged with the ones
    an earlier correction of the same message gave (same address: replaced).
    """
    check_label(category, reason)
    recipients = list(recipients)
    for label in recipients:
        check_label(label.category, label.reason)
    data_dir = Path(data_dir)
    name = correction_name(sha256)
    for other in CATEGORIES:
        if other != category:
            (data_dir / other / name).unlink(missing_ok=True)
    folder = data_dir / category
    folder.mkdir(parents=True, exist_ok=True)
    _write_atomically(folder / name, raw)
    relative = f"{category}/{name}"
    merged = {r["address"]: r for r in _earlier_recipients(data_dir, name)}
    merged.update({r.address.lower(): {"address": r.address.lower(), "category": r.category, "reason": r.reason}
                   for r in recipients})
    row = {
        "file": relative, "category": category, "reason": reason, "previous": previous, "source": source,
        "licence": LICENCE, "by": by, "at": datetime.now(UTC).isoformat(), "sha256": sha256,
        "message_uid": message_uid, "note": note, "recipients": list(merged.values()),
    }
    _append(data_dir / MANIFEST, (json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8"))
    return relative


def count(data_dir: Path) -> int:
    """How many corrections were made (rows of the manifest)."""
    path = Path(data_dir) / MANIFEST
    if not path.is_file():
        return 0
    with open(path, "rb") as handle:
        return sum(1 for line in handle if line.strip())


def _earlier_recipients(data_dir: Path, name: str) -> list[dict[str, str]]:
    path = data_dir / MANIFEST
    if not path.is_file():
        return []
    latest: list[dict[str, str]] = []
    for line in path.read_text("utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if str(row.get("file", "")).rpartition("/")[2] == name:
            latest = [r for r in row.get("recipients") or [] if isinstance(r, dict) and r.get("address")]
    return latest


def _write_atomically(target: Path, data: bytes) -> None:
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, target)


def _append(path: Path, line: bytes) -> None:
    with open(path, "ab") as manifest:
        fcntl.flock(manifest, fcntl.LOCK_EX)
        try:
            manifest.write(line)
            manifest.flush()
            os.fsync(manifest.fileno())
        finally:
            fcntl.flock(manifest, fcntl.LOCK_UN)
