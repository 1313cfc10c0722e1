"""A reported recipient's reason, from the evidence a bounce carries about it.

The evidence, most specific first:

1. a reason the bounce format's own detector asserted (its vocabulary is
   tied to the format, e.g. Exchange's "recipient name is not recognized");
2. a provider's own rejection codes and phrasing: diagnostic rules keyed by
   the remote host (``remote_mta`` in the rules file), because ``AUP#CXBL``
   or ``LPN007_102`` mean something only coming from that provider;
3. the server's words (the generic diagnostic rules, in file order), except
   where a *specific* RFC 3463 status states the failure more precisely than
   the words (see :data:`STATUS_FIRST`);
4. the status code alone, then the SMTP reply code;
5. the body of a bounce that carried no diagnostic line;
6. nothing understood: ``onhold`` when the server said something we could
   not read, ``undefined`` when it said nothing (Sisimai's convention).

Then the SMTP stage adjusts what the words meant (:func:`refine`): the same
"user unknown" is a missing mailbox in answer to RCPT or with no stage known,
a reception filter in answer to DATA or with a mailbox-status code (X.2.x),
and our own sender address in answer to MAIL FROM. A reply code alone never
names a missing mailbox (a 550 is every kind of refusal): words nobody
understood stay ``onhold`` for a person to read.

With a trained recipient model loaded, this decision is one of the model's
features (see :mod:`responsemaster.classify.recipient_model`), not the verdict.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from responsemaster.classify.detection import Detection
from responsemaster.classify.rules import MatchContext, RuleSet
from responsemaster.classify.smtp_text import status_class
from responsemaster.classify.status_codes import reason_from_reply_code, reason_from_status
from responsemaster.parse import linear
from responsemaster.verdict import RecipientVerdict

#: Reasons a specific status code (X.Y.Z with Z != 0) states outright, in the
#: order they outrank one another. The server's words still win when they
#: name a reason earlier in this tuple than the code's (a 5.1.1 whose text
#: says "mailbox full" is full), or one of the sender-side or mailbox-state
#: reasons in :data:`_WORDS_OVER_CODE` for that code; otherwise the code wins
#: (a 5.1.1 whose transcript mentions a virus scanner is an unknown user).
STATUS_FIRST = (
    "mailboxfull",
    "mesgtoobig",
    "exceedlimit",
    "hasmoved",
    "norelaying",
    "authfailure",
    "userunknown",
    "requireptr",
    "rejected",
    "hostunknown",
)

#: Words that beat an addressing code: servers answer "550 5.1.1" to RCPT for
#: any refusal, so a relay denial, a block, a full or moved mailbox or a
#: rejected sender in the text is the real reason.
_WORDS_OVER_CODE: dict[str, frozenset[str]] = {
    "userunknown": frozenset({"norelaying", "blocked", "mailboxfull", "hasmoved", "rejected", "notaccept", "suspend"}),
    "hostunknown": frozenset({"notaccept", "norelaying", "blocked", "rejected", "userunknown"}),
}

_STATUS_IN_TEXT = re.compile(r"(?<![\d.])#?([45])\.([1-7])\.(\d{1,3})(?![\d.]*\d)")

#: A refusal that states no cause: a reply code, maybe a status, one word.
#: Stages where "user unknown" can only be about the recipient's address.
_ADDRESS_STAGES = ("RCPT",)
_NO_CAUSE = linear.compile(r"^\W*\d{3}(?:[ -]#?\d\.\d{1,3}\.\d{1,3})?\W+(?:rejected|refused|denied|access denied)\W*$", re.I)
#: Stages before any address is given: "user unknown" there is not about the recipient.
#: Words only a directory lookup of the recipient produces (Exchange, Domino and
#: Notes, Gmail's "Address not found", Postfix's recipient tables, Exim's and
#: qmail's routing of the local part, an account expired for disuse): a missing
#: mailbox at whatever stage it was said, never a content filter's wording.
_DIRECTORY_LOOKUP = linear.compile(
    r"recipient name is not recognized|not listed in (?:the )?(?:public )?(?:domino |name and address |address )?"
    r"(?:directory|book)|not found by smtp address lookup|recipientnotfound|address (?:couldn'?t|could not) be found|"
    r"ディレクトリのリストにありません|ディレクトリには見つかりません|(?:casilla|cuenta|buz[oó]n) ha expirado|"
    r"unrouteable address|no mailbox here by that name|"
    r"unknown in (?:local recipient|virtual mailbox|virtual alias|relay recipient) table|"
    r"e-?mail account that you tried to reach does not exist|does not exist at the organization",
    re.I,
)


def decide(rules: RuleSet, rcpt: RecipientVerdict, fields: Mapping[str, str], detection: Detection) -> tuple[str, str]:
    """``(reason, decided_by)`` for a failed recipient no detector gave a reason."""
    status = precise_status(rcpt.status, rcpt.diagnostic)
    if status != rcpt.status:
        rcpt.status = status
    klass = status_class(status) or status_class(rcpt.reply_code)
    context = MatchContext(hosts=(rcpt.remote_mta.lower(), _domain(rcpt.address)), command=rcpt.command)
    by_status = reason_from_status(status)
    for hit in rules.matches("diagnostic", rcpt.diagnostic, klass, context):
        rule = hit.rule
        if rule.remote_mta or rule.command:
            # A provider's or a stage's own meaning: taken as it is.
            return rule.reason, hit.decided_by
        if by_status and _specific(status) and _NO_CAUSE.match(rcpt.diagnostic):
            # "550 5.7.9 Rejected": the words state no cause, the code does.
            return refine(by_status, rcpt), f"status:{status}"
        reason = rule.reason
        if _code_outranks(by_status, status, reason):
            return refine(by_status, rcpt), f"status:{status}"
        return refine(reason, rcpt), hit.decided_by
    if by_status and by_status != "undefined":
        return refine(by_status, rcpt), f"status:{status}"
    if rcpt.reply_code and reason_from_reply_code(rcpt.reply_code):
        return refine(reason_from_reply_code(rcpt.reply_code), rcpt), f"reply-code:{rcpt.reply_code}"
    if not rcpt.diagnostic:
        body = fields.get("body", "")[:5000]
        hit = rules.match_field("diagnostic", body, klass)
        if hit is not None:
            return refine(hit.rule.reason, rcpt, body), hit.decided_by
    if detection.reason:
        return detection.reason, detection.detector
    if rcpt.action in ("delayed", "expired"):
        return "expired", "dsn-action"
    return ("onhold" if rcpt.diagnostic.strip() else "undefined"), detection.detector


def precise_status(status: str, diagnostic: str) -> str:
    """The DSN's status, or the server's own code when the DSN only gave a class.

    Relaying MTAs often summarise the remote answer as ``5.0.0`` while the
    diagnostic keeps the server's ``550 5.1.1``: the server's code is the
    evidence.
    """
    parts = status.split(".")
    if status and not (len(parts) == 3 and parts[1] == "0" and parts[2] == "0"):
        return status
    match = _STATUS_IN_TEXT.search(diagnostic or "")
    if match is None or (status and match.group(1) != status[:1]):
        return status
    return ".".join(match.groups())


def refine(reason: str, rcpt: RecipientVerdict, text: str = "") -> str:
    """Adjust what the words meant to the SMTP stage they answered.

    "User unknown" is a missing mailbox unless the server said it once the
    address had been accepted: in answer to DATA, or (outside RCPT) with a
    mailbox-status code (X.2.x). There it is what reception and content filters answer
    (Japanese mobile carriers, anti-spam gateways): ``filtered``, a block,
    and pruning on it would remove a live subscriber. An addressing code
    (X.1.x) or a directory lookup's words tie it to the address whatever
    the stage. With no stage known it stays ``userunknown``: most servers
    refuse unknown users at RCPT, and relays that lose the stage (X.0.0,
    X.5.0 summaries) still report a missing mailbox. Refused at MAIL FROM,
    it is our sender address that "does not exist". ``text`` is what the
    words were read from when it is not the diagnostic (the body of a
    bounce that had none).
    """
    if rcpt.command == "MAIL" and reason in ("userunknown", "hostunknown", "filtered"):
        return "rejected"
    if reason != "userunknown" or rcpt.command in _ADDRESS_STAGES:
        return reason
    if _addressing_status(rcpt.status) or _DIRECTORY_LOOKUP.search(text or rcpt.diagnostic):
        return reason
    if rcpt.command == "DATA" or _mailbox_status(rcpt.status):
        return "filtered"
    return reason


def _mailbox_status(status: str) -> bool:
    """X.2.x: the mailbox exists and refused (full, disabled, filtered)."""
    parts = status.split(".")
    return len(parts) == 3 and parts[1] == "2"


def _addressing_status(status: str) -> bool:
    """X.1.x about the recipient (not 1.7/1.8, the sender), or a code naming a gone address."""
    parts = status.split(".")
    if len(parts) == 3 and parts[1] == "1" and parts[2] not in ("7", "8"):
        return True
    return reason_from_status(status) in ("userunknown", "hostunknown", "hasmoved")


def _code_outranks(by_status: str, status: str, word_reason: str) -> bool:
    if by_status not in STATUS_FIRST or by_status == word_reason or not _specific(status):
        return False
    if word_reason in _WORDS_OVER_CODE.get(by_status, ()):
        return False
    if word_reason in STATUS_FIRST and STATUS_FIRST.index(word_reason) < STATUS_FIRST.index(by_status):
        return False
    return True


def _specific(status: str) -> bool:
    parts = status.split(".")
    return len(parts) == 3 and parts[0] in ("4", "5") and parts[2] not in ("0", "")


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower()
