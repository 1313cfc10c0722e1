"""RFC 3463 enhanced status codes and SMTP reply codes, mapped to reasons.

Used only when the diagnostic text matched no rule: the text is more precise
than the code (a 5.7.1 may be a block or an unknown user; the words decide).
"""

from __future__ import annotations

#: Exact status codes first (X.Y.Z without the class), then subject.detail.
_BY_DETAIL: dict[str, str] = {
    # X.1: addressing
    "1.0": "userunknown",
    "1.1": "userunknown",
    "1.2": "hostunknown",
    "1.3": "userunknown",
    "1.4": "userunknown",
    "1.5": "delivered",
    "1.6": "hasmoved",
    "1.7": "rejected",
    "1.8": "rejected",
    "1.9": "systemerror",
    "1.10": "notaccept",
    # X.2: the mailbox
    "2.0": "filtered",
    "2.1": "suspend",
    "2.2": "mailboxfull",
    "2.3": "exceedlimit",
    "2.4": "filtered",
    # X.3: the receiving system
    "3.0": "systemerror",
    "3.1": "systemfull",
    "3.2": "notaccept",
    "3.3": "systemerror",
    "3.4": "mesgtoobig",
    "3.5": "systemerror",
    # X.4: network and routing
    "4.0": "networkerror",
    "4.1": "expired",
    "4.2": "networkerror",
    "4.3": "systemerror",
    "4.4": "hostunknown",
    "4.5": "systemfull",
    "4.6": "networkerror",
    "4.7": "expired",
    # X.5: protocol
    "5.1": "syntaxerror",
    "5.2": "syntaxerror",
    "5.3": "toomanyconn",
    "5.4": "syntaxerror",
    "5.5": "syntaxerror",
    "5.6": "syntaxerror",
    # X.6: content
    "6.0": "contenterror",
    "6.1": "contenterror",
    "6.2": "contenterror",
    "6.3": "contenterror",
    "6.4": "contenterror",
    "6.5": "contenterror",
    "6.6": "contenterror",
    "6.7": "contenterror",
    "6.8": "contenterror",
    "6.9": "contenterror",
    "6.10": "contenterror",
    # X.7: security and policy
    "7.0": "securityerror",
    "7.1": "blocked",
    "7.2": "blocked",
    "7.3": "securityerror",
    "7.4": "securityerror",
    "7.5": "securityerror",
    "7.6": "securityerror",
    "7.7": "securityerror",
    "7.8": "securityerror",
    "7.9": "securityerror",
    "7.10": "securityerror",
    "7.11": "securityerror",
    "7.12": "securityerror",
    "7.13": "suspend",
    "7.14": "securityerror",
    "7.15": "securityerror",
    "7.16": "mesgtoobig",
    "7.17": "suspend",
    "7.18": "suspend",
    "7.19": "securityerror",
    "7.20": "authfailure",
    "7.21": "authfailure",
    "7.22": "authfailure",
    "7.23": "authfailure",
    "7.24": "authfailure",
    "7.25": "requireptr",
    "7.26": "authfailure",
    "7.27": "rejected",
    "7.28": "spamdetected",
    "7.29": "authfailure",
    "7.30": "securityerror",
}

#: When a provider's own detail code is not in the table, the subject still says something.
_BY_SUBJECT: dict[str, str] = {"3": "systemerror", "4": "networkerror", "6": "contenterror", "7": "blocked"}

#: A bare reply code is weak evidence: 550 and 551 are left out on purpose,
#: because servers answer 550 to every kind of refusal (blocks, policy, spoofing)
#: and reading it as a missing mailbox would prune live subscribers.
_BY_REPLY_CODE: dict[str, str] = {
    "421": "blocked",
    "450": "onhold",
    "451": "systemerror",
    "452": "mailboxfull",
    "454": "systemerror",
    "521": "notaccept",
    "523": "mesgtoobig",
    "530": "authfailure",
    "552": "mailboxfull",
    "553": "rejected",
    "554": "undefined",
    "556": "notaccept",
}


def reason_from_status(status: str) -> str:
    """A reason for an RFC 3463 code such as ``5.1.1`` ('' if it says nothing)."""
    parts = status.split(".")
    if len(parts) != 3:
        return ""
    reason = _BY_DETAIL.get(f"{parts[1]}.{parts[2]}", "") or _BY_SUBJECT.get(parts[1], "")
    if parts[0] == "4" and reason in ("userunknown", "hostunknown", "notaccept", "hasmoved"):
        return "undefined"  # a temporary failure (RFC 5321 4yz) is never a permanent one
    if parts[0] == "2":
        return "delivered"
    if parts[0] == "5" and parts[1:] == ["7", "1"]:
        # "Delivery not authorized": permanent refusals give no cause (the
        # words, when there are any, decide); the temporary 4.7.1 is a block.
        return "securityerror"
    return reason


def reason_from_reply_code(code: str) -> str:
    """A reason for a bare SMTP reply code ('' if it says nothing)."""
    if code[:1] == "2":
        return "delivered"
    return _BY_REPLY_CODE.get(code, "")
