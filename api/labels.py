"""Operator wording for failure reasons: the "18 addresses do not exist, 4 mailboxes full" view.

Bulk-mail platforms show failures in plain words, grouped; these are ours,
keyed by the Sisimai reason (docs/categories.md), with the category as fallback.
"""

from __future__ import annotations

from responsemaster.categories import BOUNCE_CATEGORIES

REASON_LABELS: dict[str, str] = {
    "userunknown": "addresses do not exist",
    "hostunknown": "domains do not exist",
    "hasmoved": "addresses have moved",
    "notaccept": "domains accept no mail",
    "mailboxfull": "mailboxes full",
    "expired": "gave up after retrying",
    "networkerror": "network errors",
    "systemerror": "remote system errors",
    "systemfull": "remote systems full",
    "suspend": "mailboxes suspended",
    "blocked": "rejected (sender blocked)",
    "rejected": "rejected",
    "spamdetected": "rejected as spam",
    "policyviolation": "rejected by policy",
    "badreputation": "rejected (sender reputation)",
    "authfailure": "rejected (SPF/DKIM/DMARC)",
    "ratelimited": "rate limited",
    "mesgtoobig": "messages too big",
    "contenterror": "rejected for content",
    "virusdetected": "rejected as infected",
    "feedback": "spam complaints",
}

CATEGORY_LABELS: dict[str, str] = {
    "hard_bounce": "addresses failed permanently",
    "soft_bounce": "temporary failures",
    "mailbox_full": "mailboxes full",
    "mail_block": "rejected (sender)",
    "message_restriction": "rejected (message)",
    "feedback_loop": "spam complaints",
    "unsubscribe_request": "unsubscribe requests",
}

#: Categories listed in a failures view (bounces and complaints, not replies).
FAILURE_CATEGORIES = frozenset(BOUNCE_CATEGORIES) | {"feedback_loop"}


def label(category: str, reason: str) -> str:
    return REASON_LABELS.get(reason) or CATEGORY_LABELS.get(category) or f"{category} ({reason or 'unspecified'})"


def summary_line(lines: list[tuple[int, str]]) -> str:
    """``failures: 18 addresses do not exist, 4 mailboxes full, 35 rejected``."""
    if not lines:
        return "failures: none"
    return "failures: " + ", ".join(f"{count} {text}" for count, text in lines)
