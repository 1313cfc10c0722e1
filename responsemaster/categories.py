"""The eleven categories and the reason vocabulary (docs/categories.md).

Reasons use Sisimai's words for bounces so that verdicts compare directly with
the reference decoder; non-bounce categories carry finer reasons of their own.
This module is the single place where a reason is tied to a category.
"""

from __future__ import annotations

from enum import StrEnum


class Category(StrEnum):
    HARD_BOUNCE = "hard_bounce"
    SOFT_BOUNCE = "soft_bounce"
    MAILBOX_FULL = "mailbox_full"
    MAIL_BLOCK = "mail_block"
    MESSAGE_RESTRICTION = "message_restriction"
    DELIVERY_STATUS = "delivery_status"
    AUTO_REPLY = "auto_reply"
    CHALLENGE_RESPONSE = "challenge_response"
    FEEDBACK_LOOP = "feedback_loop"
    UNSUBSCRIBE_REQUEST = "unsubscribe_request"
    USER_REPLY = "user_reply"


CATEGORIES: tuple[str, ...] = tuple(c.value for c in Category)

#: Categories that describe a failed delivery (they count as bounces).
BOUNCE_CATEGORIES = frozenset(
    {
        Category.HARD_BOUNCE,
        Category.SOFT_BOUNCE,
        Category.MAILBOX_FULL,
        Category.MAIL_BLOCK,
        Category.MESSAGE_RESTRICTION,
    }
)

#: Categories whose From is a system reporting a failure (an MTA, a complaint desk),
#: never the subscriber: with no other attribution, such a message concerns nobody.
#: (Not delivery_status: a read receipt comes from the subscriber's own mail client.)
REPORTED_BY_A_SYSTEM = BOUNCE_CATEGORIES | {Category.FEEDBACK_LOOP}

_REASONS: dict[Category, tuple[str, ...]] = {
    Category.HARD_BOUNCE: ("userunknown", "hostunknown", "hasmoved", "notaccept"),
    Category.SOFT_BOUNCE: (
        "expired",
        "networkerror",
        "systemerror",
        "systemfull",
        "mailererror",
        "suspend",
        "onhold",
        "undefined",
        "syntaxerror",
    ),
    Category.MAILBOX_FULL: ("mailboxfull",),
    Category.MAIL_BLOCK: (
        "blocked",
        "badreputation",
        "authfailure",
        "requireptr",
        "norelaying",
        "ratelimited",
        "speeding",
        "toomanyconn",
        "spamdetected",
        "securityerror",
        "failedstarttls",
        "rejected",
        "filtered",
    ),
    Category.MESSAGE_RESTRICTION: (
        "mesgtoobig",
        "exceedlimit",
        "contenterror",
        "virusdetected",
        "policyviolation",
        "notcompliantrfc",
    ),
    Category.DELIVERY_STATUS: ("delivered", "delayed", "read_receipt"),
    Category.AUTO_REPLY: ("vacation", "autoresponder", "moved", "network_invitation"),
    Category.CHALLENGE_RESPONSE: ("challenge",),
    Category.FEEDBACK_LOOP: ("feedback",),
    Category.UNSUBSCRIBE_REQUEST: ("unsubscribe",),
    Category.USER_REPLY: ("reply", "subscribe_request"),
}

REASON_TO_CATEGORY: dict[str, Category] = {
    reason: category for category, reasons in _REASONS.items() for reason in reasons
}

#: The reason a category gets when nothing finer is known.
DEFAULT_REASON: dict[Category, str] = {
    Category.HARD_BOUNCE: "userunknown",
    Category.SOFT_BOUNCE: "undefined",
    Category.MAILBOX_FULL: "mailboxfull",
    Category.MAIL_BLOCK: "blocked",
    Category.MESSAGE_RESTRICTION: "policyviolation",
    Category.DELIVERY_STATUS: "delivered",
    Category.AUTO_REPLY: "autoresponder",
    Category.CHALLENGE_RESPONSE: "challenge",
    Category.FEEDBACK_LOOP: "feedback",
    Category.UNSUBSCRIBE_REQUEST: "unsubscribe",
    Category.USER_REPLY: "reply",
}


def category_of(reason: str) -> Category:
    """The category a reason belongs to; unknown reasons are soft bounces.

    Sisimai's own fallback for an unexplained failure is ``undefined`` (a soft
    bounce), so an unknown word never prunes anybody.
    """
    return REASON_TO_CATEGORY.get(reason, Category.SOFT_BOUNCE)


def reasons_of(category: Category) -> tuple[str, ...]:
    return _REASONS[category]
