"""The trained text model: the last word where structure and rules are silent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from responsemaster.parse.message import ParsedMessage


class TextModel(Protocol):
    """A trained classifier over a message's fields."""

    model_id: str

    def predict(self, msg: ParsedMessage, fields: Mapping[str, str]) -> tuple[str, float]:
        """The most likely category and its probability."""
        ...
