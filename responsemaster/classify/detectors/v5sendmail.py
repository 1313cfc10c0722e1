"""Sendmail version 5 and other old Sendmails: a transcript and "Unsent message follows".

The session transcript mixes the remote answers (``<<<``) with sendmail's
verdict lines "554 <address>... text"; each address takes the answers
printed since the previous verdict, so each recipient keeps its own reason.
"""

from __future__ import annotations

import re

from responsemaster.classify.detection import Detection
from responsemaster.classify.detectors import _scan
from responsemaster.parse import linear
from responsemaster.parse.message import ParsedMessage

name = "v5sendmail"

_START = linear.compile(r"-+\s*transcript of session follows\s*-+", re.I)
_STOP = linear.compile(r"^\s*-+\s*(?:unsent message follows|original message)", re.I)
_VERDICT = linear.compile(r"^\s*\d{3}\s+<(?P<addr>[^\s<>]+@[^\s<>]+)>\.\.\.\s*(?P<diag>.*)$")


def detect(msg: ParsedMessage) -> Detection | None:
    lines = _scan.report_lines(msg, start=_START, stop=_STOP)
    if not lines or not any(_STOP.search(l) for l in _scan.body_lines(msg)):
        return None
    found: list[_scan.Block] = []
    pending: list[str] = []
    for line in lines:
        match = _VERDICT.match(line)
        if match:
            answers = _answers(pending)
            said = answers if any(a.lstrip().startswith("<<<") for a in answers) else [*answers, match.group("diag")]
            found.append(_scan.Block(match.group("addr"), said))
            pending = []
        elif line.strip():
            pending.append(line)
    return _scan.detection(name, found)


def _answers(lines: list[str]) -> list[str]:
    """The server's own words (<<< lines and the command they answered), not sendmail's chatter."""
    return [l for l in lines if l.lstrip().startswith(("<<<", ">>>")) or "talking to" in l.lower()]
