"""Relabelled messages flow back into ``training_data/`` for the next ``responsemaster train``.

The model's loader (``responsemaster.classify.model.dataset``) takes a file's
label from the folder it sits in, so a relabel is one file:
``training_data/<category>/review--<sha256>.eml``. Relabelling again moves
it (never two labels for one message). Who, when and the previous label go to
``training_data/relabels.jsonl``, one JSON object per relabel, with the same
keys as ``SOURCES.jsonl`` (file, category, reason, source, licence) plus
``previous``, ``by``, ``at``, ``sha256`` and ``message_uid``.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

from responsemaster.categories import CATEGORIES
from responsemaster.store.base import utcnow

PREFIX = "review--"
MANIFEST = "relabels.jsonl"


def relabel_name(sha256: str) -> str:
    return f"{PREFIX}{sha256}.eml"


def write_relabel(data_dir: Path, raw: bytes, sha256: str, category: str, previous: str, by: str,
                  message_uid: str, note: str = "") -> str:
    """Write the message under ``category`` (removing an earlier relabel) and log it; the relative path."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}")
    data_dir = Path(data_dir)
    name = relabel_name(sha256)
    for other in CATEGORIES:
        if other != category:
            (data_dir / other / name).unlink(missing_ok=True)
    folder = data_dir / category
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    tmp = folder / f".{name}.{os.getpid()}.tmp"
    with open(tmp, "wb") as handle:
        handle.write(raw)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, target)
    relative = f"{category}/{name}"
    row = {
        "file": relative, "category": category, "reason": "", "previous": previous,
        "source": f"review:{message_uid}", "licence": "reviewed returned mail (operator's own)",
        "by": by, "at": utcnow().isoformat(), "sha256": sha256, "message_uid": message_uid, "note": note,
    }
    line = (json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
    with open(data_dir / MANIFEST, "ab") as manifest:
        fcntl.flock(manifest, fcntl.LOCK_EX)
        try:
            manifest.write(line)
            manifest.flush()
            os.fsync(manifest.fileno())
        finally:
            fcntl.flock(manifest, fcntl.LOCK_UN)
    return relative
