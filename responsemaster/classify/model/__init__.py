"""The trained text model: the last word where structure and rules are silent."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from responsemaster.parse.message import ParsedMessage


class TextModel(Protocol):
    """A trained classifier over a message's fields."""

    model_id: str

    def predict(self, msg: ParsedMessage, fields: Mapping[str, str]) -> tuple[str, float]:
        """The most likely category and its probability."""
        ...


class LazyModel:
    """A trained model that is loaded the first time it is used, then kept.

    Why: loading imports numpy and the model's arrays (and tokenising a
    message imports spaCy), most of a second; a ``classify`` of a few
    bounces, which structure and rules decide, never needs it. Anything
    besides :meth:`predict` and ``model_id`` is taken from the loaded model.
    """

    def __init__(self, folder: Path, load: Callable[[Path], TextModel]) -> None:
        self.folder = Path(folder)
        self._load = load
        self._model: TextModel | None = None
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self.folder.name

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def model(self) -> TextModel:
        """The model, loaded now if it was not yet (once, even with several threads asking)."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load(self.folder)
        return self._model

    def predict(self, msg: ParsedMessage, fields: Mapping[str, str]) -> tuple[str, float]:
        return self.model().predict(msg, fields)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.model(), name)
