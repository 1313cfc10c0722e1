"""What the API says about the classifier: the current model's metadata and the training data.

Read from disk on each call (``models/CURRENT``, ``<id>/meta.json``,
``training_data/<category>/*.eml``): ``responsemaster train`` may swap the
model at any moment from another process, and the files are the truth.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from responsemaster.categories import CATEGORIES
from responsemaster.classify.model import corrections


def current_meta(models_dir: Path) -> dict[str, Any] | None:
    pointer = Path(models_dir) / "CURRENT"
    try:
        model_id = pointer.read_text("utf-8").strip()
    except OSError:
        return None
    if not model_id or "/" in model_id or model_id.startswith("."):
        return None
    try:
        meta = json.loads((Path(models_dir) / model_id / "meta.json").read_text("utf-8"))
    except (OSError, json.JSONDecodeError):
        return {"model_id": model_id}
    return meta if isinstance(meta, dict) else {"model_id": model_id}


def metrics_of(meta: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers, not the whole confusion matrix."""
    cv = meta.get("cross_validation") or {}
    per = cv.get("per_category") or {}
    return {
        "accuracy": cv.get("accuracy"),
        "macro_f1": cv.get("macro_f1"),
        "folds": cv.get("folds"),
        "per_category": per,
        "n_examples": meta.get("n_examples"),
    }


def training_counts(data_dir: Path) -> dict[str, int]:
    """``.eml`` files per category (``training_data/`` and its ``extra/``)."""
    found = {}
    for category in CATEGORIES:
        n = 0
        for root in (Path(data_dir), Path(data_dir) / "extra"):
            folder = root / category
            if folder.is_dir():
                n += sum(1 for p in folder.glob("*.eml") if p.is_file())
        found[category] = n
    return found


def relabel_count(data_dir: Path) -> int:
    return corrections.count(data_dir)
