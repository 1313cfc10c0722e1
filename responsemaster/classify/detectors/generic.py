"""The last structural fallback: a bounce in words no format module knows.

It claims a message only when the envelope says "bounce" (From is a mailer
daemon or postmaster, or the subject says undeliverable/returned/failure in
one of the common languages) *and* the report part names a failed address
near error words. Addresses come from X-Failed-Recipients when present, else
from the report text before the returned original; the bounce's own
addresses and the original's sender are never taken for recipients. When
this finds nothing, the message rules and flufl.bounce still get their turn.
"""

from __future__ import annotations

import email.utils
import re

from responsemaster.classify.detection import Detection
from responsemaster.classify.detectors import _scan
from responsemaster.parse import linear
from responsemaster.parse.message import ParsedMessage

name = "generic"

BOUNCE_SUBJECT = linear.compile(
    r"undeliver|undelivered|not delivered|delivery (?:status notification|failure|failed|problem|notification)|"
    r"returned mail|returning message|failure notice|failed delivery|delivery failed|non[- ]?delivery|"
    r"mail (?:system )?(?:error|failure)|could not be delivered|returned to sender|rejected|"
    r"unzustellbar|nicht zustellbar|non remis|non distribuable|no se puede entregar|no entregado|"
    r"non recapitabile|impossibile recapitare|onbestelbaar|não entregue|niedostarczon|"
    r"не доставлено|недоставлен|ошибка доставки|配信不能|配送不能|送信エラー|配信エラー|返送|未送達|退信|无法投递",
    re.I,
)
_ERROR_WORDS = linear.compile(
    r"unknown|does not exist|doesn't exist|no such|not found|reject|refused|denied|invalid|not a valid|unavailable|"
    r"quota|full|fail|error|could not|couldn't|unable|undeliver|disabled|blocked|timed? ?out|expired|"
    r"\b[45]\d\d\b|\b[45]\.\d{1,3}\.\d{1,3}\b|"
    # the same words in the languages bounces come back in most
    r"desconocid|inexistent|no existe|no pudo|rechazad|expirad|lleno|n[aã]o (?:pode|existe)|desconhecid|"
    r"inconnu|introuvable|n'existe pas|impossible|refus|plein|unbekannt|existiert nicht|nicht zugestellt|"
    r"konnte nicht|abgelehnt|voll|sconosciut|inesistent|impossibile|onbekend|niet bezorgd",
    re.I,
)
#: Words of a delay warning ("will continue to try"): a delivery_status notice, never a bounce.
_DELAYED = linear.compile(
    r"will (?:continue|keep) (?:to )?try|delivery attempts will continue|has been (?:postponed|delayed)|"
    r"has not yet been delivered|advisory[- ]only|no action is required on your part",
    re.I,
)
_HEADERISH = linear.compile(r"^\s*(?:from|sender|reply-to|return-path|message-id|received|date|subject|"
                        r"references|in-reply-to|x-[\w-]+|cc|dkim-signature)\s*:", re.I)
_WINDOW = 3
_LINE_CHARS = 2000
_MAX_RECIPIENTS = 20


def detect(msg: ParsedMessage) -> Detection | None:
    if not (_scan.sender_is_daemon(msg) or BOUNCE_SUBJECT.search(msg.subject)):
        return None
    failed = [a.strip().strip("<>") for a in msg.header("X-Failed-Recipients").split(",") if "@" in a]
    lines = _scan.report_lines(msg)[:200]
    if failed:
        return _delayed(msg, _scan.detection(name, [_scan.Block(a, _context(lines, a)) for a in failed]))
    excluded = _scan.own_addresses(msg) | _original_senders(msg)
    lines = [line[:_LINE_CHARS] for line in lines]
    # One error-word search per line, not per address: a line of thousands of
    # addresses must cost linear time, not quadratic.
    erring = [bool(_ERROR_WORDS.search(line)) for line in lines]
    found: dict[str, _scan.Block] = {}
    for index, line in enumerate(lines):
        if _HEADERISH.match(line) or not any(erring[index : index + _WINDOW + 1]):
            continue
        for match in _scan.ADDRESS.finditer(line):
            address = match.group(0).strip(".")
            if address.lower() in excluded or address.lower() in found:
                continue
            found[address.lower()] = _scan.Block(address, lines[index : index + _WINDOW + 1])
            if len(found) > _MAX_RECIPIENTS:
                return None  # a list of addresses, not a report on a few recipients
    if not found:
        return None
    return _delayed(msg, _scan.detection(name, found.values()))


def _delayed(msg: ParsedMessage, detection: Detection | None) -> Detection | None:
    """Mark every recipient of a delay warning as delayed (the pipeline then files it as delivery_status)."""
    if detection is not None and _scan.body_has(msg, _DELAYED, 3000):
        for rcpt in detection.recipients:
            rcpt.action = "delayed"
    return detection


def _context(lines: list[str], address: str) -> list[str]:
    for index, line in enumerate(lines):
        if address.lower() in line.lower():
            return lines[index : index + _WINDOW + 1]
    return [line for line in lines if _ERROR_WORDS.search(line)][:3]


def _original_senders(msg: ParsedMessage) -> set[str]:
    found = set()
    for header in ("From", "Sender", "Return-Path", "Reply-To"):
        for _, address in email.utils.getaddresses([msg.original_header(header)]):
            if address:
                found.add(address.lower())
    postmaster = {a for a in _scan.ADDRESS.findall(msg.body_text[:5000]) if a.lower().startswith(("postmaster@", "mailer-daemon@"))}
    return found | {a.lower() for a in postmaster}
