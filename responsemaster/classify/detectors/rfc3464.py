"""RFC 3464 delivery status notifications (``message/delivery-status``).

Also RFC 6533's ``message/global-delivery-status`` and DSN fields the parser
recovered from text parts. Every recipient block becomes a recipient; when a
forwarded address bounced, Original-Recipient names the address we mailed
(our subscriber) while Final-Recipient names where it was forwarded, so
Original-Recipient wins. Many MTAs leave Diagnostic-Code empty and explain in
the human-readable part instead, so an empty diagnostic is filled from the
text next to the address there (and the failed SMTP command is read from it).
"""

from __future__ import annotations

import re

from responsemaster.classify.detection import Detection, recipient
from responsemaster.classify.detectors._scan import remote_mta, smtp_command, stated_command
from responsemaster.classify.smtp_text import clean_diagnostic, find_reply_code, find_status
from responsemaster.parse import linear
from responsemaster.parse.fields import FieldBlock, address_of, mta_of
from responsemaster.parse.message import ParsedMessage
from responsemaster.verdict import RecipientVerdict

name = "rfc3464"

_MAILER_TYPES = ("x-unix", "x-postfix", "x-local")
#: PowerMTA's own classification of the remote answer (X-PowerMTA-BounceCategory),
#: for the categories whose meaning is unambiguous. PowerMTA reads the whole
#: transcript when it files a bounce, so "bad-mailbox" stands even when the
#: server reused a mailbox-status code (5.2.1 "User Unknown").
_POWERMTA_CATEGORY = {
    "bad-mailbox": "userunknown",
    "bad-domain": "hostunknown",
    "inactive-mailbox": "suspend",
    "quota-issues": "mailboxfull",
    "message-expired": "expired",
    "no-answer-from-host": "networkerror",
    "spam-related": "spamdetected",
    "virus-related": "virusdetected",
    "relaying-issues": "norelaying",
}
#: Postfix wraps a long reply over many lines before its "(in reply to RCPT TO command)".
_NEAR_LINES = 12
#: A transcript line: a command sent (>>>), an answer (<<<), or sendmail's "550 5.1.1 <addr>... text".
_TRANSCRIPT = linear.compile(r"^\s*(?:>>>|<<<|[45]\d\d[ -])")
_TRANSCRIPT_BACK = 3
#: How much of a diagnostic must open a ``<<<`` line to be its answer, and how far back its command may be.
_ANSWER_CHARS = 40
_ANSWER_BACK = 6
_NEED_RCPT = linear.compile(r"^\s*(?:<<<\s*)?503\b.*\brcpt\b", re.I)
#: The next recipient's paragraph: Exim's indented bare address, Postfix's "<address>: ...".
_OTHER_RECIPIENT = linear.compile(r"^(?:\s*<?[^\s<>@]+@[^\s<>]+>?\s*$|<[^\s<>@]+@[^\s<>]+>:)")
_BOUNDARY = linear.compile(r"^\s*(?:--\S{6,}|-{3,}|content-type:|reporting-mta:|final-recipient:)", re.I)


def detect(msg: ParsedMessage) -> Detection | None:
    blocks = msg.delivery_status
    if not blocks:
        return None
    per_message = blocks[0] if not _is_recipient_block(blocks[0]) else {}
    recipients = [_recipient(block, per_message) for block in blocks if _is_recipient_block(block)]
    recipients = [r for r in recipients if r.address]
    if not recipients:
        return None
    lines = msg.body_text.splitlines()[:600]
    sender = address_of(msg.original_header("Return-Path")).lower()
    for rcpt in recipients:
        _explain_from_text(rcpt, lines)
        if not rcpt.command and _about_sender(rcpt.diagnostic, sender, rcpt):
            rcpt.command = "MAIL"
    return Detection(detector=name, recipients=recipients)


def _about_sender(diagnostic: str, sender: str, rcpt: RecipientVerdict) -> bool:
    """The refusal names our envelope sender ("<sender>... Access denied") and not the recipient.

    Then it was said about the sender, whatever the relay's summary calls it:
    a refusal at MAIL FROM, never evidence that the recipient does not exist.
    """
    text = diagnostic.lower()
    if not sender or f"<{sender}>" not in text:
        return False
    return not any(a and a.lower() in text for a in (rcpt.address, rcpt.final_recipient))


def _reportable(field: str, address: str) -> bool:
    """Whether a Final-Recipient field names a mailbox worth reporting.

    Not an RFC 821 source route (``rfc822;@relay.example:user@host``), and
    not a domain no host could have (an MTA's internal ``user@ims_daemon``).
    """
    if field.partition(";")[2].strip().lstrip("<").startswith("@"):
        return False
    return _is_hostname(address.rpartition("@")[2])


def _is_hostname(domain: str) -> bool:
    """Whether ``domain`` is a name a host could have (LDH labels) or an address literal."""
    if domain.startswith("[") and domain.endswith("]"):
        return True
    labels = domain.removesuffix(".").split(".")
    return domain.isascii() and all(
        0 < len(label) <= 63 and label[0].isalnum() and label[-1].isalnum()
        and all(c.isalnum() or c == "-" for c in label)
        for label in labels
    )


def _is_recipient_block(block: FieldBlock) -> bool:
    return "final-recipient" in block or "original-recipient" in block


def _recipient(block: FieldBlock, per_message: FieldBlock) -> RecipientVerdict:
    original = address_of(block.get("original-recipient", ""))
    final = address_of(block.get("final-recipient", ""))
    if original and not _reportable(block.get("final-recipient", ""), final):
        final = ""
    raw_diagnostic = block.get("diagnostic-code", "")
    diagnostic = clean_diagnostic(raw_diagnostic)
    status = find_status(block.get("status", "")) or find_status(diagnostic)
    found = recipient(
        original or final,
        final_recipient=final if original and final and final.lower() != original.lower() else "",
        status=status,
        reply_code=find_reply_code(diagnostic),
        remote_mta=mta_of(block.get("remote-mta", "")) or _answering_mta(diagnostic, per_message),
        diagnostic=diagnostic,
        action=_action(block.get("action", "")),
        command=smtp_command(diagnostic),
    )
    kind = raw_diagnostic.partition(";")[0].strip().lower()
    if kind in _MAILER_TYPES and (not diagnostic or diagnostic.isdigit()):
        # A local delivery program failed (exit code only): the mailer, not the address.
        found.reason = "mailererror"
    category = block.get("x-powermta-bouncecategory", "").strip().lower()
    if category in _POWERMTA_CATEGORY and found.action not in ("delayed", "delivered", "relayed", "expanded"):
        found.reason = _POWERMTA_CATEGORY[category]
        found.decided_by = f"{name}:x-powermta-bouncecategory"
    return found


def _action(field: str) -> str:
    """The RFC 3464 action word: Sendmail comments it ("relayed (to non-DSN-aware mailer)")."""
    words = field.strip().lower().split()
    return words[0].rstrip(";,") if words else ""


def _answering_mta(diagnostic: str, per_message: FieldBlock) -> str:
    """The MTA whose answer the diagnostic is, when the DSN has no Remote-MTA.

    The host the text names ("host mx.example.org said"), else the
    Reporting-MTA itself: without a Remote-MTA field (RFC 3464 2.3.5) the
    reporting MTA talked to no other, so the refusal is its own (a filtering
    gateway's, a receiving service's), and its name tells whose codes to read.
    """
    return remote_mta(diagnostic) or mta_of(per_message.get("reporting-mta", "")).lower()


def _explain_from_text(rcpt: RecipientVerdict, lines: list[str]) -> None:
    """Fill an empty diagnostic and the SMTP command from the human-readable part.

    A command the reporting MTA states there ("in reply to end of DATA
    command", a session transcript) outranks one guessed from the server's
    words in the Diagnostic-Code (Postfix's "Recipient address rejected:").
    """
    if rcpt.diagnostic and stated_command(rcpt.diagnostic):
        return
    address = rcpt.final_recipient or rcpt.address
    near = _text_near(lines, address) or _text_near(lines, rcpt.address)
    if near and not rcpt.diagnostic:
        rcpt.diagnostic = clean_diagnostic(near)
        rcpt.reply_code = rcpt.reply_code or find_reply_code(rcpt.diagnostic)
    rcpt.command = (stated_command(near) or _transcript_command(lines, address, rcpt.diagnostic)
                    or rcpt.command or smtp_command(near))


def _transcript_command(lines: list[str], address: str, diagnostic: str = "") -> str:
    """The command a session transcript shows the server refusing for ``address``.

    Sendmail prints ``>>> RCPT To:<addr>`` / ``<<< 550 ...`` (or ``>>> DATA``
    then a ``<<<`` answer) in the human-readable part while its
    Diagnostic-Code keeps only the answer: the stage is only said there. The
    refusal is the transcript line naming the address, or else the ``<<<``
    line repeating the recipient's diagnostic (a refused DATA names no one);
    the command is the ``>>>`` line before it.
    """
    wanted = address.lower()
    answer = _squeeze(diagnostic)[:_ANSWER_CHARS]
    for index, line in enumerate(lines):
        if wanted in line.lower() and _TRANSCRIPT.match(line):
            back_lines = _TRANSCRIPT_BACK
        elif answer and line.lstrip().startswith("<<<") and _squeeze(line.lstrip()[3:]).startswith(answer):
            back_lines = _ANSWER_BACK
        else:
            continue
        for back in reversed(lines[max(0, index - back_lines) : index + 1]):
            if back.lstrip().startswith(">>>"):
                command = smtp_command(back)
                after = lines[index + 1 : index + 1 + _TRANSCRIPT_BACK]
                if command == "DATA" and any(_NEED_RCPT.search(l) for l in after):
                    # Pipelining: RCPT TO and DATA went out together; the refusal
                    # answered RCPT TO, and DATA then failed for want of a recipient.
                    return "RCPT"
                return command
    return ""


def _squeeze(text: str) -> str:
    return " ".join(text.lower().split())


def _text_near(lines: list[str], address: str) -> str:
    """The line naming ``address`` and the explanation under it, up to a blank line."""
    if not address:
        return ""
    wanted = address.lower()
    for index, line in enumerate(lines):
        if wanted not in line.lower() or line.lower().lstrip().startswith(("to:", "from:", "final-recipient", "original-recipient")):
            continue
        chunk = [line]
        for follow in lines[index + 1 : index + 1 + _NEAR_LINES]:
            if not follow.strip() or _BOUNDARY.match(follow) or _OTHER_RECIPIENT.match(follow):
                break
            chunk.append(follow)
        text = " ".join(part.strip() for part in chunk)
        rest = text.lower().replace(wanted, "").strip(" <>:.()")
        return text if len(rest) > 3 else ""
    return ""
