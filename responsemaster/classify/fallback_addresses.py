"""flufl.bounce as the fallback address extractor.

Used only when no detector of ours found the recipients of something that is
a bounce by its words or by the model. flufl.bounce's detectors run most
specific first and the first one that finds anything wins: its union of all
heuristics (``all_failures``) leaks the false positives of loose detectors,
so it is never used.

Its detectors read every line of every part, seventeen times over: handed a
hostile message whole (a million short lines, half a million parts) they ran
for minutes. So they are handed a bounded copy: the same structure up to the
parser's part and depth limits, header values cut as the detectors' are, the
text of the parts that can hold a report (``text/*``, ``message/*``) cut to
:data:`PART_CHARS` each and :data:`TOTAL_CHARS` in all, lines to
:data:`MAX_LINE_CHARS`, other parts empty. A report names its failed
recipients near the top; ~0.4 s is the worst case we know.
"""

from __future__ import annotations

import logging
from email.message import Message

from responsemaster.classify.detection import recipient
from responsemaster.parse.message import MAX_DEPTH, MAX_PARTS, ParsedMessage
from responsemaster.parse.text import MAX_HEADER_CHARS
from responsemaster.verdict import RecipientVerdict

logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)

PART_CHARS = 32_768
TOTAL_CHARS = 65_536
#: RFC 5322's line limit. flufl.bounce's ``<(?P<addr>[^>]*)>`` is quadratic in a line of '<': a 1 MB one
#: (32 KB after the part cut) took 3.5 s, 64 KB of 998-character lines take 0.2 s.
MAX_LINE_CHARS = 998
MAX_HEADERS = 500


def recipients(msg: ParsedMessage) -> list[RecipientVerdict]:
    """Failed recipients flufl.bounce finds in ``msg`` (possibly none)."""
    # Imported here: its module compiles some 150 regexes, a tenth of a one-file classify's start-up.
    from flufl.bounce._scan import _DETECTORS  # the ordered detector list; no public accessor

    bounded = bounded_copy(msg.headers)
    for detector_class in _DETECTORS:
        try:
            temporary, permanent = detector_class().process(bounded)
        except Exception:  # noqa: BLE001 - a heuristic's crash means "not mine"
            continue
        found = sorted({_text(a) for a in (*permanent, *temporary)} - {""})
        if found:
            return [recipient(address, decided_by=f"flufl.bounce:{detector_class.__name__}") for address in found]
    return []


def bounded_copy(root: Message) -> Message:
    """``root``'s tree, cut to the limits in the module docstring (the original is not touched)."""
    state = {"parts": 0, "chars": TOTAL_CHARS}

    def copy(part: Message, depth: int) -> Message:
        state["parts"] += 1
        new = Message()
        new._headers = [(name, value[:MAX_HEADER_CHARS]) for name, value in part._headers[:MAX_HEADERS]]  # type: ignore[attr-defined]
        new.set_default_type(part.get_default_type())
        payload = part._payload  # type: ignore[attr-defined]
        if isinstance(payload, list):
            children = payload if depth < MAX_DEPTH else []
            new._payload = [copy(child, depth + 1) for child in children  # type: ignore[attr-defined]
                            if isinstance(child, Message) and state["parts"] < MAX_PARTS]
        elif isinstance(payload, str) and part.get_content_maintype() in ("text", "message"):
            text = payload[: min(PART_CHARS, state["chars"])]
            state["chars"] -= len(text)
            if len(text) > MAX_LINE_CHARS:
                text = "\n".join(line[:MAX_LINE_CHARS] for line in text.split("\n"))
            new._payload = text  # type: ignore[attr-defined]
        else:
            new._payload = ""  # type: ignore[attr-defined]
        return new

    return copy(root, 0)


def _text(address: bytes | str) -> str:
    value = address.decode("utf-8", "replace") if isinstance(address, bytes) else address
    value = value.strip().strip("<>").lower()
    return value if "@" in value else ""
