"""m-FILTER (Digital Arts): Japanese notice with "-------server message" and
"-------SMTP command" sections under the failed address."""

from __future__ import annotations

import re

from responsemaster.classify.detection import Detection
from responsemaster.classify.detectors import _scan
from responsemaster.parse import linear
from responsemaster.parse.message import ParsedMessage

name = "mfilter"

_MARK = linear.compile(r"m-filter", re.I)
_SECTION = linear.compile(r"^-{5,}\s*(server message|smtp command|original message)", re.I)


def detect(msg: ParsedMessage) -> Detection | None:
    if not _scan.body_has(msg, _MARK, 1000):
        return None
    addresses: list[str] = []
    sections: dict[str, list[str]] = {"": []}
    current = ""
    for line in _scan.body_lines(msg):
        match = _SECTION.match(line)
        if match:
            current = match.group(1).lower()
            if current == "original message":
                break
            sections[current] = []
        elif current == "" and (found := _scan.ADDRESS.fullmatch(line.strip())):
            addresses.append(found.group(0))
        elif line.strip():
            sections.setdefault(current, []).append(line.strip())
    said = sections.get("server message", [])
    command = " ".join(sections.get("smtp command", []))
    blocks = [_scan.Block(a, said) for a in addresses]
    return _scan.detection(name, blocks, command=command.split()[0].upper() if command else "")
