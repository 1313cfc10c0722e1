"""flufl.bounce as the fallback address extractor.

Used only when no detector of ours found the recipients of something that is
a bounce by its words or by the model. flufl.bounce's detectors run most
specific first and the first one that finds anything wins: its union of all
heuristics (``all_failures``) leaks the false positives of loose detectors,
so it is never used.
"""

from __future__ import annotations

import logging

from responsemaster.classify.detection import recipient
from responsemaster.parse.message import ParsedMessage
from responsemaster.verdict import RecipientVerdict

logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)


def recipients(msg: ParsedMessage) -> list[RecipientVerdict]:
    """Failed recipients flufl.bounce finds in ``msg`` (possibly none)."""
    # Imported here: its module compiles some 150 regexes, a tenth of a one-file classify's start-up.
    from flufl.bounce._scan import _DETECTORS  # the ordered detector list; no public accessor

    for detector_class in _DETECTORS:
        try:
            temporary, permanent = detector_class().process(msg.headers)
        except Exception:  # noqa: BLE001 - a heuristic's crash means "not mine"
            continue
        found = sorted({_text(a) for a in (*permanent, *temporary)} - {""})
        if found:
            return [recipient(address, decided_by=f"flufl.bounce:{detector_class.__name__}") for address in found]
    return []


def _text(address: bytes | str) -> str:
    value = address.decode("utf-8", "replace") if isinstance(address, bytes) else address
    value = value.strip().strip("<>").lower()
    return value if "@" in value else ""
