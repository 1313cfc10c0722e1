"""The human-written part of a reply: no quoted original, no signature.

ResponseMaster's "BodyWithoutOriginalMessage": what the model reads, what the
message rules match and what support staff see on top of a forward.

Approach (talon's idea, without its trained model): every line gets a role
(text, quoted, splitter, signature, empty), then one pass decides:

* a *splitter* starts the quoted original: an attribution line in many
  languages ("On ... wrote:", "Le ... a écrit :", "Am ... schrieb ...:",
  "... пользователь ... написал:", possibly wrapped over two or three
  lines), an "Original Message" / "Forwarded message" rule, or a header
  block (Outlook's "From:/Sent:/To:/Subject:", in several languages);
* top-posting: text, then a splitter -> keep the text above it;
* bottom-posting and interleaved replies (mailing lists, Thunderbird): an
  attribution directly above quoted lines, or quotes, are skipped and the
  unquoted lines around them kept;
* a signature ("-- ", "Sent from my iPhone", a closing "Best regards" with
  a short name under it) ends the reply.

Every regular expression is anchored and bounded, and lines are cut to
:data:`MAX_LINE` characters before matching, so hostile input stays linear.
"""

from __future__ import annotations

import re

MAX_LINES = 4000
MAX_LINE = 400

_VERBS = (
    r"wrote|writes|schrieb|a\s+écrit|a\s+ecrit|escribió|escribio|ha\s+scritto|scrisse|schreef|escreveu|skrev|"
    r"napisał(?:a)?|napsal(?:a)?|kirjoitti|написал(?:а)?|пишет|írta|yazdı|scrise|έγραψε|kirjutas|rašė|"
    r"写道|のメッセージ|님이\s*작성"
)
#: An attribution line: a verb of writing, then only a colon (or nothing) to the end.
_ATTRIBUTION = re.compile(
    rf"^.{{0,300}}?(?:{_VERBS})(?:\s*\(.{{0,60}}\))?\s*:?\s*$"
    # "Am 26. Mai 2003 schrieb Dirk <d@example.org>:", "Le 3 mars, Jean <j@x> a écrit :"
    rf"|^[-\s]*(?:on|am|le|el|il|op|em|den|dnia|w\s+dniu|в)\s.{{0,250}}?(?:{_VERBS})\s.{{0,150}}:\s*$",
    re.IGNORECASE,
)
_RULE = re.compile(
    r"^\s*(?:-{2,}|_{2,}|\*{2,})?\s*(?:original\s+message|urspr(?:ü|ue)ngliche\s+nachricht|message\s+d'origine|"
    r"mensaje\s+original|messaggio\s+originale|oorspronkelijk\s+bericht|mensagem\s+original|originalmeddelande|"
    r"opprinnelig\s+melding|oprindelig\s+meddelelse|alkuper(?:ä|a)inen\s+viesti|wiadomo(?:ś|s)(?:ć|c)\s+oryginalna|"
    r"исходное\s+сообщение|forwarded\s+message|weitergeleitete\s+nachricht|message\s+transf(?:é|e)r(?:é|e)|"
    r"mensaje\s+reenviado|messaggio\s+inoltrato|doorgestuurd\s+bericht)\s*(?:-{2,}|_{2,}|\*{2,})?\s*$",
    re.IGNORECASE,
)
_FORWARD_INTRO = re.compile(
    r"^\s*(?:begin\s+forwarded\s+message|anfang\s+der\s+weitergeleiteten\s+nachricht|"
    r"d(?:é|e)but\s+du\s+message\s+r(?:é|e)exp(?:é|e)di(?:é|e)|inicio\s+del\s+mensaje\s+reenviado|"
    r"inizio\s+messaggio\s+inoltrato|in(?:í|i)cio\s+da\s+mensagem\s+encaminhada)\s*:\s*$",
    re.IGNORECASE,
)
_HEADER = re.compile(
    r"^\s*\*?(?:from|von|de|da|van|från|fra|od|lähettäjä|feladó|от|差出人|発信者|sent|gesendet|envoy(?:é|e)|"
    r"enviado(?:\s+el)?|inviato|verzonden|skickat|sendt|wysłano|lähetetty|отправлено|date|datum|fecha|data|dátum|"
    r"дата|to|an|à|a|para|aan|till|til|do|vastaanottaja|кому|subject|betreff|objet|asunto|oggetto|onderwerp|"
    r"ämne|emne|temat|aihe|тема|cc|kopie)\s*:\*?(?:\s|$)",
    re.IGNORECASE,
)
_FROM_HEADER = re.compile(r"^\s*\*?(?:from|von|de|da|van|från|fra|od|lähettäjä|feladó|от|差出人|発信者)\s*:", re.IGNORECASE)
_SIGNATURE = re.compile(
    r"^(?:--\s?|—|sent\s+from\s+my\s.{1,40}|sent\s+from\s+(?:outlook|mail|yahoo\s+mail).{0,40}|"
    r"get\s+outlook\s+for\s.{1,20}|sent\s+with\s+\w+.{0,60}|envoy(?:é|e)\s+de\s+mon\s.{1,40}|"
    r"von\s+meinem\s.{1,40}\s+gesendet.{0,10}|enviado\s+desde\s+mi\s.{1,40}|enviado\s+do\s+meu\s.{1,40}|"
    r"inviato\s+da(?:l)?\s.{1,40}|verzonden\s+(?:vanaf|met)\s.{1,40}|skickat\s+från\s.{1,40}|"
    r"отправлено\s+с\s.{1,40})$",
    re.IGNORECASE,
)
_CLOSING = re.compile(
    r"^(?:best(?:\s+regards|\s+wishes)?|(?:kind|warm|many)\s+regards|regards|cheers|thanks(?:\s+again)?|"
    r"thank\s+you|sincerely|yours(?:\s+sincerely|\s+truly)?|mit\s+freundlichen\s+gr(?:ü|ue)(?:ß|ss)en|"
    r"(?:viele|liebe|beste)\s+gr(?:ü|ue)(?:ß|ss)e|gru(?:ß|ss)|cordialement|bien\s+(?:à|a)\s+vous|amicalement|"
    r"saludos(?:\s+cordiales)?|atentamente|un\s+saluto|cordiali\s+saluti|saluti|met\s+vriendelijke\s+groet(?:en)?|"
    r"groeten|atenciosamente|abraços|med\s+vänliga\s+hälsningar|hälsningar|mvh|med\s+venlig\s+hilsen|"
    r"с\s+уважением)\s*[,.!]*(?:\s+[A-ZÀ-Ý][\w.'-]{0,20})?$",
    re.IGNORECASE,
)
_DASH_NAME = re.compile(r"^-\s?[^\W\d_][\w .'-]{0,30}$")
#: A bare name signing off: "David", "Joe Smith", "cheers, Joe".
_NAME = re.compile(r"^(?:[-–]\s?)?[A-ZÀ-Ý][\w.'-]{0,20}(?:\s+[A-ZÀ-Ý][\w.'-]{0,20}){0,2}\.?$")

_QUOTE_PREFIX = re.compile(r"^\s*(?:>|[A-Za-z]{1,5}>(?:\s|$))")
_LONG_RULE = re.compile(r"^(?:_{10,}|-{10,}|={10,}|\*{10,})$")
#: A line ending in a colon that names a date or address, just above quoted lines
#: (catches attributions in any wording: "Twas brillig at 15:33 when x@y did gyre:").
_COLON_END = re.compile(r"^.{0,300}:\s*$")
#: A date or time, then an address, then a colon: Yandex, Mail.ru and many webmails
#: ('26.06.2014, 14:41, "Alexander L" <abc@example.com>:') whose quote is HTML, not ">".
_DATED_ADDRESS = re.compile(
    r"^.{0,120}?(?:\d{1,4}[./-]\d{1,2}[./-]\d{1,4}|\d{1,2}:\d{2}).{0,150}?[\w.+-]+@[\w.-]+[>\])]?\s*:\s*$"
)

TEXT, QUOTED, SPLIT, ATTRIBUTION, SIGNATURE, EMPTY = "t", "q", "s", "a", "g", "e"


def extract_reply(text: str) -> str:
    """The new text of a reply, stripped of the quoted original and the signature.

    For a message that is not a reply (a bounce, a newsletter) this is the
    body up to the first splitter, which is still what a person wrote.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")[:MAX_LINES]
    roles = line_roles(lines)
    kept: list[str] = []
    has_text = False
    for line, role in zip(lines, roles):
        if role == ATTRIBUTION:
            continue  # quotes follow; answers may be interleaved below them
        if role == SPLIT:
            if has_text:
                break
            continue
        if role == SIGNATURE:
            if has_text:
                break
            continue
        if role == QUOTED:
            continue
        if role == TEXT:
            has_text = True
        kept.append(line)
    reply = _drop_closing("\n".join(kept).strip("\n")).strip()
    if reply:
        return reply
    return "\n".join(l for l, r in zip(lines, roles) if r in (TEXT, EMPTY)).strip()


def line_roles(lines: list[str]) -> list[str]:
    """One role per line: text, quoted, splitter, signature or empty."""
    roles = [EMPTY if not line.strip() else TEXT for line in lines]
    index = 0
    while index < len(lines):
        line = lines[index][:MAX_LINE]
        stripped = line.strip()
        if not stripped:
            index += 1
            continue
        if _QUOTE_PREFIX.match(line):
            roles[index] = QUOTED
            # A quoted attribution ("> On ... wrote:") still marks where the original starts.
            if _ATTRIBUTION.match(stripped.lstrip("> ")) and _looks_attributed(stripped):
                roles[index] = SPLIT
            index += 1
            continue
        span = _splitter_span(lines, index)
        if span:
            following = _next_nonempty(lines, index + span)
            quoted_next = following < len(lines) and bool(_QUOTE_PREFIX.match(lines[following][:MAX_LINE]))
            is_attribution = quoted_next and not _header_block(lines, index)
            for k in range(index, index + span):
                roles[k] = ATTRIBUTION if is_attribution else SPLIT
            index += span
            continue
        if _SIGNATURE.match(stripped) or _LONG_RULE.match(stripped) or lines[index] in ("-- ", "--"):
            roles[index] = SIGNATURE
        index += 1
    return roles


def _splitter_span(lines: list[str], index: int) -> int:
    """How many lines starting at ``index`` form a splitter (0: none)."""
    line = lines[index][:MAX_LINE].strip()
    if _RULE.match(line) or _FORWARD_INTRO.match(line):
        return 1
    if re.match(r"^_{10,}$|^-{10,}$", line) and _header_block(lines, _next_nonempty(lines, index + 1)) >= 2:
        return 1
    block = _header_block(lines, index)
    if block >= 2 and _FROM_HEADER.match(line) or block >= 3:
        return block
    if _DATED_ADDRESS.match(line):
        return 1
    # Attribution lines, possibly wrapped by the client over up to three lines.
    if _COLON_END.match(line) and re.search(r"\d|@", line) and _quoted_after(lines, index):
        return 1
    joined = line
    for extra in range(3 if re.search(r"\d|@", line) else 1):
        if extra:
            nxt = index + extra
            if nxt >= len(lines) or not lines[nxt].strip() or lines[nxt].lstrip().startswith(">"):
                break
            joined = f"{joined} {lines[nxt][:MAX_LINE].strip()}"
        if len(joined) <= 2 * MAX_LINE and _ATTRIBUTION.match(joined) and _looks_attributed(joined, lines, index + extra):
            return extra + 1
    return 0


def _looks_attributed(text: str, lines: list[str] | None = None, last: int = 0) -> bool:
    """An attribution names a date or an address, or is followed by quoted lines."""
    if re.search(r"\d|@", text):
        return True
    if lines is None:
        return False
    return _quoted_after(lines, last)


def _quoted_after(lines: list[str], index: int) -> bool:
    following = _next_nonempty(lines, index + 1)
    return following < len(lines) and bool(_QUOTE_PREFIX.match(lines[following][:MAX_LINE]))


def _header_block(lines: list[str], index: int) -> int:
    """Consecutive ``Name: value`` lines of a quoted-message header block at ``index``."""
    count = 0
    while index + count < len(lines) and count < 8:
        line = lines[index + count][:MAX_LINE]
        if _HEADER.match(line):
            count += 1
            if not line.split(":", 1)[1].strip("* \t") and index + count < len(lines) and lines[index + count].strip():
                count += 1  # "From:" with its value on the next line (Outlook 2003 HTML)
        elif count and line[:1] in (" ", "\t") and line.strip():
            count += 1  # folded value (long To: lists)
        else:
            break
    return count


def _next_nonempty(lines: list[str], index: int) -> int:
    while index < len(lines) and not lines[index].strip():
        index += 1
    return index


def _drop_closing(reply: str) -> str:
    """Cut a closing ("Best regards,\\nAnna", "-Carl") at the end of the reply."""
    lines = reply.split("\n")
    content = [i for i, line in enumerate(lines) if line.strip()]
    if len(content) < 2:
        return reply
    for position in content[-4:]:
        stripped = lines[position].strip()
        after = [lines[i].strip() for i in content if i > position]
        if _CLOSING.match(stripped) and len(after) <= 3 and all(len(a) <= 60 for a in after):
            return "\n".join(lines[:position])
        if position == content[-1] and _DASH_NAME.match(stripped):
            return "\n".join(lines[:position])
    last = content[-1]
    # A lone short name after a blank line signs the reply off.
    if last > 0 and not lines[last - 1].strip() and _NAME.match(lines[last].strip()) and len(content) > 1:
        return "\n".join(lines[:last])
    return reply
