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

    Why: the message model imports numpy (and spaCy, for a model without
    exported tokenizers: most of a second) and
    a ``classify`` of a few bounces, which structure and rules decide, never
    needs it; the recipient model (numpy and two small arrays) is needed at
    the first failed recipient, not by a reply or a report. Both are built
    with this wrapper (``build_classifier``). Anything besides
    :meth:`predict` and ``model_id`` is taken from the loaded model.
    """

    def __init__(self, folder: Path, load: Callable[[Path], Any]) -> None:
        self.folder = Path(folder)
        self._load = load
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self.folder.name

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def model(self) -> Any:
        """The model, loaded now if it was not yet (once, even with several threads asking)."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load(self.folder)
        return self._model

    def predict(self, *args: Any, **kwargs: Any) -> Any:
        """The loaded model's ``predict`` (the message model's and the recipient model's take different inputs)."""
        return self.model().predict(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.model(), name)
