"""Exchange 2007+ / Office 365 / Outlook.com non-delivery reports, text part.

Most carry a DSN part (read by :mod:`rfc3464`); this module reads the human
part for those that do not: "Delivery has failed to these recipients or
groups:" (and its translations), the address (often with ``<mailto:...>``),
the explanation, and under "Diagnostic information for administrators:"
the remote server's reply ("Remote Server returned '550 5.1.10 ...'").
"""

from __future__ import annotations

import re

from responsemaster.classify.detection import Detection
from responsemaster.classify.detectors import _scan
from responsemaster.parse import linear
from responsemaster.parse.message import ParsedMessage

name = "office365"

_INTRO = linear.compile(
    r"delivery has failed to these recipients or (?:groups|distribution lists)|"
    r"your message (?:to .* )?couldn't be delivered|"
    r"diagnostic information for administrators|"
    r"die zustellung an folgende empfänger oder gruppen ist fehlgeschlagen|"
    r"la remise à ces destinataires ou groupes a échoué|"
    r"次の受信者またはグループへの配信に失敗しました",
    re.I,
)
_ADMIN = linear.compile(r"diagnostic information for administrators|diagnoseinformationen für administratoren", re.I)
_RCPT = linear.compile(r"^\s*(?P<addr>[^\s<>@]+@[\w.-]+)(?:\s*<mailto:[^>]*>)?\s*$", re.I)
_STOP = linear.compile(r"^\s*original message headers|^\s*(?:received|message-id|from):\s", re.I)
_REMOTE_SAID = linear.compile(r"remote server returned\s+'?(.+?)'?\s*$", re.I)
_GENERATING = linear.compile(r"generating server:\s*(\S+)", re.I)


def detect(msg: ParsedMessage) -> Detection | None:
    if not _scan.body_has(msg, _INTRO, 6000):
        return None
    lines = _scan.report_lines(msg, start=_INTRO, stop=_STOP)
    admin = _scan.report_lines(msg, start=_ADMIN, stop=_STOP)
    found = _scan.blocks(admin or lines, _RCPT)
    if not found:
        found = _scan.blocks(lines, _RCPT)
    if not found:
        return None
    explanation = [l for l in lines if l.strip() and not _RCPT.match(l)][:3]
    for block in found:
        said = [m.group(1) for m in map(_REMOTE_SAID.search, block.lines) if m]
        block.lines = said + explanation if said else block.lines + explanation
    detection = _scan.detection(name, found)
    generating = _GENERATING.search(msg.body_text[:20000])
    if detection is not None and generating:
        for rcpt in detection.recipients:
            rcpt.remote_mta = rcpt.remote_mta or generating.group(1).lower()
    return detection
