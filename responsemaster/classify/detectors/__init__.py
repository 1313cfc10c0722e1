"""The one registry of detectors, in the order they are tried.

Standards whose structure decides the category come first (a complaint or a
read receipt is never a bounce), then RFC 3464 DSNs, then MTA-specific
formats, then auto-reply markers, which only label what nothing else claimed.
Adding a format = one module with ``name`` and ``detect(msg)`` + a line here.
"""

from __future__ import annotations

from responsemaster.classify.detection import Detector
from responsemaster.classify.detectors import arf, autoreply, mdn, rfc3464

#: Structural detectors; the first one that recognises a message decides.
STRUCTURAL: tuple[Detector, ...] = (arf, mdn, rfc3464)  # type: ignore[assignment]

#: Tried after the message rules, as the last word before the model.
FALLBACK: tuple[Detector, ...] = (autoreply,)  # type: ignore[assignment]

DETECTORS: tuple[Detector, ...] = STRUCTURAL + FALLBACK
