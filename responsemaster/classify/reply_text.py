"""The human-written part of a reply: no quoted original, no signature.

ResponseMaster's "BodyWithoutOriginalMessage": what the model reads, what the
message rules match and what support staff see on top of a forward. The
approach follows talon's idea in spirit: find the first line that starts the
quoted original (an attribution line, an "Original Message" splitter, a header
block, or a run of ``>`` lines) and cut there, then drop the signature.
"""

from __future__ import annotations

import re

MAX_LINES = 4000

# Splitters that start the quoted original, in many clients and languages.
_SPLITTER = re.compile(
    r"""^\s*(?:
        -{2,}\s*(?:original\s+message|urspr(?:ü|ue)ngliche\s+nachricht|message\s+d'origine|
                 mensaje\s+original|messaggio\s+originale|oorspronkelijk\s+bericht|
                 mensagem\s+original|originalmeddelande|opprinnelig\s+melding|
                 alkuper(?:ä|a)inen\s+viesti|wiadomo(?:ś|s)(?:ć|c)\s+oryginalna|
                 forwarded\s+message|weitergeleitete\s+nachricht)\s*-{2,}
      | _{10,}
      | (?:on|am|le|el|il|op|em|den|dnia|w\s+dniu)\s.{0,200}?(?:wrote|schrieb|a\s+écrit|escribió|ha\s+scritto|schreef|escreveu|skrev|napisał|kirjoitti)\s*:?
      | .{0,200}(?:wrote|schrieb|a\s+écrit|escribió|ha\s+scritto|schreef|escreveu|skrev|napisał|kirjoitti)\s*:\s*$
      | (?:from|von|de|da|van|från|od|lähettäjä)\s*:\s.+$
    )""",
    re.I | re.X,
)
_SIGNATURE = re.compile(r"^(?:--\s?|__+|sent from my \w+.*|envoyé de mon .*|von meinem .* gesendet.*)$", re.I)


def extract_reply(text: str) -> str:
    """The new text at the top of a reply, stripped of quotes and signature."""
    lines = text.replace("\r\n", "\n").split("\n")[:MAX_LINES]
    kept: list[str] = []
    for index, line in enumerate(lines):
        if _SPLITTER.match(line) and (index > 0 or len(lines) == 1):
            break
        if line.lstrip().startswith(">") and _quote_run(lines, index):
            break
        if _SIGNATURE.match(line.strip()):
            break
        kept.append(line)
    reply = "\n".join(kept).strip()
    return reply if reply else "\n".join(l for l in lines if not l.lstrip().startswith(">")).strip()


def _quote_run(lines: list[str], start: int) -> bool:
    """True when ``start`` begins quoted lines that run to the end (ignoring blanks)."""
    rest = [l for l in lines[start:] if l.strip()]
    quoted = sum(1 for l in rest if l.lstrip().startswith(">"))
    return quoted >= max(1, int(len(rest) * 0.6))
