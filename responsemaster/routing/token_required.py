"""``[routing] require_token_for_prune``: only a message we signed may prune; the rest wait for a person.

Anyone can send a DSN naming any address, and by default a hard bounce
prunes whoever it names (that is how most returned mail arrives: plenty of
MTAs drop the envelope, and a DSN without our token is still usually
true). An operator whose mailer signs every message (a VERP return path or
a tokened Message-ID on each send) can refuse that: with the option on, a
prune happens only when a verified token of ours names the very address
being pruned. Any other hard bounce becomes a *pending prune*: an action
row with status ``pending`` and the message in the review queue, where a
person decides. Unsigned soft bounces are logged but not scored, since a
score that reaches the threshold prunes too.
"""

from __future__ import annotations

from responsemaster.routing.context import RouteContext, Target, record_action
from responsemaster.store.base import address_key
from responsemaster.store.messages import ReviewItem
from responsemaster.store.upsert import insert_ignore

UNSIGNED = ("unsigned: no verified token of ours names this address ([routing] require_token_for_prune); "
            "a person confirms or cancels it in the review queue")


def lacks_token(ctx: RouteContext, address: str) -> bool:
    """True when the option is on and no verified VERP/Message-ID token in this message names ``address``."""
    if not ctx.config.require_token_for_prune:
        return False
    attribution = ctx.verdict.attribution
    signed = (attribution.via in ("verp", "message-id") and not attribution.forged_token
              and address_key(attribution.subscriber) == address_key(address))
    return not signed


def hold_prune(ctx: RouteContext, target: Target, why: str = UNSIGNED) -> None:
    """Record the prune as ``pending`` (once) and put the message in the review queue instead of pruning."""
    detail = f"pending: {target.category}:{target.reason}; {why}"
    if record_action(ctx, "prune", target.address, status="pending", detail=detail) is None:
        return
    values = {"message_id": ctx.message.id, "category": ctx.verdict.category,
              "confidence": float(ctx.verdict.confidence), "state": "open", "relabelled_to": "",
              "resolved_by": "", "note": "", "created_at": ctx.now}
    insert_ignore(ctx.session, ReviewItem.__table__, values, ["message_id"])  # type: ignore[attr-defined]
