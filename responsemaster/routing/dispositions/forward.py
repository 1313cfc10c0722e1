"""forward: send the message to the customer-service mailbox (via the outbox, after commit).

Never forwards auto-generated mail: bounces and reports (null sender,
MAILER-DAEMON, multipart/report) never; ``Auto-Submitted`` mail only for the
categories listed in ``forward_auto_submitted`` (a challenge is automatic but
needs a person). At most ``max_forwards_per_sender`` forwards per sender per
day, like ResponseMaster's MaxForwards, so a loop or a chatty autoresponder
cannot flood support. The forward's Message-ID is derived from the message's
stable id, so the receiving side can drop a duplicate.
"""

from __future__ import annotations

from email.parser import BytesHeaderParser
from email.policy import compat32

from responsemaster.routing.context import RouteContext, Target, enqueue, queued_today, record_action, set_action
from responsemaster.store.base import address_key

_BOUNCE_SENDERS = ("mailer-daemon", "postmaster")


def auto_generated(raw: bytes) -> tuple[bool, bool]:
    """(is a bounce/report, carries Auto-Submitted other than "no")."""
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    return_path = str(headers.get("Return-Path", "x")).strip()
    sender = str(headers.get("From", "")).lower()
    content_type = str(headers.get("Content-Type", "")).lower()
    bounce = return_path == "<>" or "multipart/report" in content_type or any(s in sender for s in _BOUNCE_SENDERS)
    auto = str(headers.get("Auto-Submitted", "no")).strip().lower()
    return bounce, bool(auto) and not auto.startswith("no")


def forward_message_id(uid: str, from_address: str) -> str:
    domain = from_address.rpartition("@")[2] or "responsemaster.invalid"
    return f"<rm-forward.{uid}@{domain}>"


class Forward:
    name = "forward"
    scope = "message"
    changes_state = False

    def apply(self, ctx: RouteContext, target: Target) -> None:
        sender = address_key(ctx.verdict.sender) or "-"
        action = record_action(ctx, self.name, sender)
        if action is None:
            return
        skip = self._refusal(ctx, sender)
        if skip:
            set_action(ctx, action, "skipped", skip)
            return
        set_action(ctx, action, "queued", f"to {ctx.config.forward_to}")
        enqueue(ctx, action, "forward", self._payload(ctx, target))

    def _refusal(self, ctx: RouteContext, sender: str) -> str:
        if not ctx.config.forward_to:
            return "no [routing] forward_to configured"
        bounce, auto = auto_generated(ctx.raw)
        if bounce:
            return "auto-generated (bounce or report): never forwarded"
        if auto and ctx.verdict.category not in ctx.config.forward_auto_submitted:
            return "auto-generated (Auto-Submitted): not forwarded"
        if queued_today(ctx, "forward", sender) >= ctx.config.max_forwards_per_sender:
            return f"cap: {ctx.config.max_forwards_per_sender} forwards from {sender} today"
        return ""

    def _payload(self, ctx: RouteContext, target: Target) -> dict[str, str]:
        return {
            "uid": ctx.uid,
            "raw_path": ctx.message.path,
            "to": ctx.config.forward_to,
            "category": ctx.verdict.category,
            "reason": ctx.verdict.reason,
            "subscriber": ctx.verdict_row.subscriber,
            "campaign": ctx.verdict.attribution.campaign,
            "sender": ctx.verdict.sender,
            "subject": ctx.verdict.subject,
            "reply_text": ctx.verdict.reply_text,
            "message_id": forward_message_id(ctx.uid, ctx.config.from_address),
        }


DISPOSITION = Forward()
