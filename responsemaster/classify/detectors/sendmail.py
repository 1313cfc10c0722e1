"""Sendmail's text report, for the bounces that arrive without a readable DSN part.

"----- The following addresses had permanent fatal errors -----" lists the
addresses (with "(reason: ...)" under each); "----- Transcript of session
follows -----" holds the dialogue, where ``<<<`` lines are the remote
server's answers and "ADDRESS... text" lines sendmail's own verdicts.
"""

from __future__ import annotations

import re

from responsemaster.classify.detection import Detection
from responsemaster.classify.detectors import _scan
from responsemaster.parse import linear
from responsemaster.parse.message import ParsedMessage

name = "sendmail"

_ERRORS = linear.compile(r"-+\s*the following addresses? had (?:permanent fatal|permanent delivery|delivery|transient non-fatal)? ?(?:errors|problems)\s*-+", re.I)
_TRANSCRIPT = linear.compile(r"-+\s*transcript of session follows\s*-+", re.I)
_END = linear.compile(r"^\s*-+\s*(?:unsent message follows|original message|transcript of session|"
                  r"message header follows|non-delivered information)|^--[\w.=/-]{6,}|^content-type:", re.I)
_RCPT = linear.compile(
    r"^\s*(?:>>>\s*)?(?:\S+\s+)?<?(?P<addr>[^\s<>()\[\]]+@[^\s<>()\[\]]+?)>?(?:\s+<[^>]*>)?\s*"
    r"(?:[(\[](?P<diag>.*)[)\]])?\s*$"
)
_VERDICT = linear.compile(r"^\s*(?:\d{3}\s+(?:\d\.\d+\.\d+\s+)?)?<?(?P<addr>[^\s<>]+@[^\s<>]+?)>?\.\.\.\s*(?P<diag>.*)$")


def detect(msg: ParsedMessage) -> Detection | None:
    lines = _scan.body_lines(msg)
    listed = _scan.blocks(_scan.report_lines(msg, start=_ERRORS, stop=_END, lines=lines), _RCPT)
    transcript = _scan.report_lines(msg, start=_TRANSCRIPT, stop=_END, lines=lines)
    if not listed and not transcript:
        return None
    said = _transcript_by_address(transcript)
    if len(listed) == 1 and "" in said:
        # One failed address and a transcript that does not repeat it
        # ("550 <addr>: Recipient address rejected: ..."): the answer is its.
        said.setdefault(listed[0].address.lower(), said[""])
    found = [_scan.Block(b.address, b.lines + said.get(b.address.lower(), [])) for b in listed]
    if not found:
        found = [_scan.Block(a, t) for a, t in said.items() if a]
    return _scan.detection(name, found)


def _transcript_by_address(lines: list[str]) -> dict[str, list[str]]:
    """The transcript lines that explain each address: the server's answers before its verdict."""
    pending: list[str] = []
    by_address: dict[str, list[str]] = {}
    for line in lines:
        match = _VERDICT.match(line)
        if match:
            by_address.setdefault(match.group("addr").lower(), []).extend(pending + [match.group("diag")])
            pending = []
        elif line.strip():
            pending.append(line)
    if pending and len(by_address) == 1:
        next(iter(by_address.values())).extend(pending)
    elif pending and not by_address:
        by_address[""] = pending
    return by_address
