"""What the recipient model reads about one failed recipient: its evidence, as three text columns.

Why these: a bounce states why one address failed in a few places, and each
says something different. The server's words (``words``, ``chars``) carry
most of it; character n-grams read languages without spaces and spelling
variants. The codes and the context (``facts``) say how sure the words are:
the RFC 3463 status by class, subject and detail, the SMTP reply code, the
command that was refused, which detector read the bounce, the provider
family of the remote host and of the recipient's domain, and what the
hand-written rules say: every diagnostic rule that matched (by id and by the
reason it gives) and the reason the hand-written decision would give. Rules
are evidence here; the model learns how far to trust each from labelled
bounces.

Every column is a plain string of space-separated tokens, so the fitted
scikit-learn pipeline holds only vectorisers and a linear model (safe to load
from a short trusted list, and compiled to the fast scorer like the message
model). Extraction is regular expressions over at most
:data:`TEXT_CHARS` characters: cheap enough to run for every recipient.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from responsemaster.categories import category_of
from responsemaster.classify.providers import family
from responsemaster.classify.rules import MatchContext, RuleSet
from responsemaster.classify.smtp_text import status_class, status_restates_reply
from responsemaster.classify.status_codes import reason_from_reply_code, reason_from_status
from responsemaster.verdict import RecipientVerdict

COLUMNS: tuple[str, ...] = ("words", "chars", "facts")
#: How much of the diagnostic (or of the body, when there is none) is read.
TEXT_CHARS = 600
#: How much of the normalised words the character n-grams read (bounded: ~1 ms per recipient in all).
CHARS_CHARS = 200

_EMAIL = re.compile(r"[^\s<>()\[\]\"',;:]+@[^\s<>()\[\]\"',;:]+")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.I)
_IP = re.compile(r"\[?\b\d{1,3}(?:\.\d{1,3}){3}\b\]?|\b[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){3,7}\b", re.I)
_HOST = re.compile(r"\b(?:[a-z0-9-]+\.){2,}[a-z]{2,}\b", re.I)
_STATUS = re.compile(r"(?<![\d.])[245]\.\d{1,3}\.\d{1,3}(?![\d.]*\d)")
_CODE = re.compile(r"^[245]\d\d$")
_TOKEN = re.compile(r"_(?:email|url|ip|host)_|#?[245]\.\d{1,3}\.\d{1,3}|[^\W_]+(?:['’][^\W_]+)?", re.U)
_DIGITS = re.compile(r"\d")
#: What a text must contain for _IP and _HOST to match in it (each a necessary condition, found
#: quickly: a dotted quad's digits and dots; a host's last two dots): see :func:`_fold`.
_IP_HINT = re.compile(r"\d\.\d{1,3}\.\d{1,3}\.\d")
_HOST_HINT = re.compile(r"\.[a-z0-9-]+\.[a-z]{2}", re.I)


@dataclass(frozen=True)
class Evidence:
    """One recipient's evidence, as the model's three input columns."""

    words: str
    chars: str
    facts: str

    def columns(self) -> tuple[str, str, str]:
        return (self.words, self.chars, self.facts)

    def signature(self) -> str:
        """What a person's correction is remembered by: the words, codes and stage, not the address."""
        facts = " ".join(t for t in self.facts.split() if t.startswith(("st:", "rc:", "cmd:", "prov:")))
        return f"{self.words}|{facts}"


def normalise(text: str) -> str:
    """Lower-case words with addresses, URLs, IPs and host names folded into placeholders.

    Reply codes and RFC 3463 statuses stay as they are; other numbers become
    ``0`` digits so that queue ids and timestamps do not become features.
    """
    text = _fold(text[:TEXT_CHARS])
    out = []
    for token in _TOKEN.findall(text.lower()):
        if token.isalpha():  # most words: letters only, so no code, status or digit to look for
            out.append(token)
        elif _STATUS.fullmatch(token.lstrip("#")) or _CODE.match(token):
            out.append(token.lstrip("#"))
        elif _DIGITS.search(token):
            out.append(_DIGITS.sub("0", token))
        else:
            out.append(token)
    return " ".join(out)


def _fold(text: str) -> str:
    """URLs, then addresses, IPs and host names replaced by their placeholders, in that order.

    Each pattern runs only where the text holds what any match of it must
    hold (a URL's ``://`` or ``www.``, an ``@``, three colons or a dotted quad,
    two dots before two letters): scanning every position of a diagnostic
    with the four patterns was most of :func:`normalise`, and most
    diagnostics name no URL and no IP. The result is the same either way
    (``tests/test_recipient_features.py`` checks it against the four substitutions).
    """
    if "://" in text or "www." in text.lower():
        text = _URL.sub(" _url_ ", text)
    if "@" in text:
        text = _EMAIL.sub(" _email_ ", text)
    if text.count(":") >= 3 or _IP_HINT.search(text):
        text = _IP.sub(" _ip_ ", text)
    if _HOST_HINT.search(text):
        text = _HOST.sub(" _host_ ", text)
    return text


def evidence(
    rcpt: RecipientVerdict,
    detector: str,
    rules: RuleSet,
    hand_reason: str,
    detector_reason: str = "",
    body: str = "",
) -> Evidence:
    """The columns for ``rcpt``; ``hand_reason`` is what the hand-written decision gives."""
    text = rcpt.diagnostic or body[:TEXT_CHARS]
    words = normalise(text)
    restated = status_restates_reply(rcpt.status, rcpt.diagnostic)
    facts = list(_code_facts("" if restated else rcpt.status, rcpt.reply_code))
    if restated:
        facts.append("st:restated")
    facts.append(f"cmd:{rcpt.command or 'none'}")
    facts.append(f"det:{detector.split(':')[0] or 'none'}")
    if detector.startswith("rule:"):
        facts.append(f"msgrule:{detector[5:]}")
    remote, domain = family(rcpt.remote_mta), family(rcpt.address.rpartition("@")[2])
    facts.append(f"prov:{remote or domain or 'none'}")
    if domain and domain != remote:
        facts.append(f"dprov:{domain}")
    facts.append(f"act:{rcpt.action or 'none'}")
    facts.append("text:diag" if rcpt.diagnostic else ("text:body" if text else "text:none"))
    klass = status_class(rcpt.status) or status_class(rcpt.reply_code)
    context = MatchContext(hosts=(rcpt.remote_mta.lower(), rcpt.address.rpartition("@")[2].lower()),
                           command=rcpt.command)
    facts.extend(_rule_facts(rules, text, klass, context))
    for name, reason in (("hand", hand_reason), ("det", detector_reason)):
        if reason:
            facts.append(f"{name}:{reason}")
            facts.append(f"{name}c:{category_of(reason)}")
    return Evidence(words=words, chars=words[:CHARS_CHARS], facts=" ".join(facts))


def _code_facts(status: str, reply_code: str) -> Iterable[str]:
    parts = status.split(".")
    if len(parts) == 3:
        klass, subject, detail = parts
        yield f"st:{status}"
        yield f"stc:{klass}"
        yield f"sts:{klass}.{subject}"
        yield f"std:{subject}.{detail}"
        yield f"stsub:{subject}"
        if detail == "0":
            yield "st:generic"
        by_status = reason_from_status(status)
        if by_status:
            yield f"streason:{by_status}"
    else:
        yield "st:none"
    if reply_code:
        yield f"rc:{reply_code}"
        yield f"rcc:{reply_code[:1]}"
        by_code = reason_from_reply_code(reply_code)
        if by_code:
            yield f"rcreason:{by_code}"
    else:
        yield "rc:none"


def _rule_facts(rules: RuleSet, text: str, klass: str, context: MatchContext) -> Iterable[str]:
    seen: set[str] = set()
    for hit in rules.matches("diagnostic", text, klass, context):
        rule = hit.rule
        yield f"rule:{rule.id}"
        if rule.reason and rule.reason not in seen:
            seen.add(rule.reason)
            yield f"rreason:{rule.reason}"
    if not seen:
        yield "rule:none"


def body_text(fields: Mapping[str, str]) -> str:
    """The start of the bounce's body: what is read for a recipient without a diagnostic."""
    return fields.get("body", "")[:TEXT_CHARS]
