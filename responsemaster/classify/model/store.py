"""Loading the current trained model from ``models/`` (placeholder until training lands)."""

from __future__ import annotations

from pathlib import Path

from responsemaster.classify.model import TextModel


def load_current_model(models_dir: Path) -> TextModel | None:
    """The model ``models/CURRENT`` points at, or None when none is trained yet."""
    return None
