"""Tie a returned message to a subscriber and a campaign without guessing.

Order of trust (docs/return-path-spec.md): a verified VERP token in the
envelope recipient, a verified token in In-Reply-To/References, the
recipients a DSN reports, the headers of the returned original, and last the
From of a reply. A header's value counts only when it is a real address
(``To: <Undisclosed Recipients>`` is nobody), and the From of a complaint
report is the reporter, never the subscriber.
Token verification is injected (``TokenReader``) so this module stays pure
and knows nothing of keys or configuration.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Callable
from dataclasses import dataclass

from responsemaster.addresses import is_real_address
from responsemaster.parse.message import ParsedMessage
from responsemaster.parse.text import header_address
from responsemaster.verdict import Attribution, RecipientVerdict

#: Headers where the envelope recipient of a returned message shows up.
ENVELOPE_HEADERS = ("X-Original-To", "Delivered-To", "Envelope-To", "X-Envelope-To", "To")
#: Headers a mailer (ours or not) may put the campaign in. Not ``List-Id``: it names
#: a mailing list (RFC 2919), which sends many campaigns, or someone else's list
#: that a person replying happened to be on.
CAMPAIGN_HEADERS = ("X-Campaign", "X-Campaign-Id", "X-Mailer-Campaign", "X-Mailgun-Campaign-Id")


@dataclass
class TokenResult:
    subscriber: str
    campaign: str
    valid: bool


#: Finds and verifies a token in an address or Message-ID; None when there is no token.
TokenReader = Callable[[str], "TokenResult | None"]


def attribute(
    msg: ParsedMessage,
    recipients: list[RecipientVerdict],
    is_bounce_like: bool,
    read_token: TokenReader | None = None,
) -> Attribution:
    forged = False
    if read_token is not None:
        for value in _token_candidates(msg):
            result = read_token(value)
            if result is None:
                continue
            if result.valid:
                via = "verp" if value in _envelope_values(msg) else "message-id"
                return Attribution(result.subscriber, result.campaign, via)
            forged = True
    campaign = _campaign(msg)
    if recipients:
        return Attribution(recipients[0].address, campaign, "dsn", forged)
    original_to = header_address(msg.original_header("To")).lower()
    if original_to and is_real_address(original_to):
        return Attribution(original_to, campaign, "headers", forged)
    if not is_bounce_like and msg.feedback_report is None and msg.sender and is_real_address(msg.sender):
        return Attribution(msg.sender, campaign, "from", forged)
    return Attribution("", campaign, "none", forged)


def _envelope_values(msg: ParsedMessage) -> list[str]:
    values = []
    for name in ENVELOPE_HEADERS:
        for value in msg.headers.get_all(name) or ():
            values.extend(a for _, a in email.utils.getaddresses([str(value)]) if a)
    return values


def _token_candidates(msg: ParsedMessage) -> list[str]:
    ids = []
    for name in ("In-Reply-To", "References"):
        ids.extend(re.findall(r"<([^<>\s]+)>", msg.header(name)))
    ids.extend(re.findall(r"<([^<>\s]+)>", msg.original_header("Message-ID")))
    return _envelope_values(msg) + ids


def _campaign(msg: ParsedMessage) -> str:
    for name in CAMPAIGN_HEADERS:
        value = msg.original_header(name) or msg.header(name)
        if value:
            return value.strip()[:200]
    return ""
