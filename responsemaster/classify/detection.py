"""The contract between detectors and the classification pipeline.

A detector looks at a parsed message and either says "not mine" (``None``)
or returns a :class:`Detection`. It never raises on bad input: the pipeline
treats an exception as a bug and records it as an error on the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from responsemaster.parse.message import ParsedMessage
from responsemaster.verdict import RecipientVerdict


@dataclass
class Detection:
    """What a detector recognised.

    ``category`` is set when the format itself decides it (an ARF report is a
    feedback_loop whatever it says). When it is ``None`` the category follows
    from the recipients' reasons, which the pipeline fills in where a detector
    left them empty.
    """

    detector: str
    category: str | None = None
    reason: str = ""
    recipients: list[RecipientVerdict] = field(default_factory=list)
    confidence: float = 0.99
    feedback_type: str = ""
    suggested_address: str = ""


class Detector(Protocol):
    """One standard or one MTA's format."""

    name: str

    def detect(self, msg: ParsedMessage) -> Detection | None:
        """Recognise ``msg`` or return None ("not mine")."""
        ...


def recipient(address: str, **fields: str) -> RecipientVerdict:
    """A recipient whose category and reason the pipeline decides later."""
    values = {"category": "", "reason": "", **fields}
    return RecipientVerdict(address=address.strip().lower(), **values)
