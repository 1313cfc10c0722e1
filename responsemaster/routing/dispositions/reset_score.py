"""reset_score: a person wrote to us from this address, so it works: clear its bounce score.

Only for mail the person wrote (the sender is the subscriber): an auto-reply
proves nothing about deliverability of our mail, and neither does a reply
from some other address quoting theirs.
"""

from __future__ import annotations

from responsemaster.routing.context import RouteContext, Target, find_subscriber, record_action, touch
from responsemaster.store.base import address_key
from responsemaster.store.subscribers import SubscriberStatus


class ResetScore:
    name = "reset_score"
    scope = "message"
    changes_state = True

    def apply(self, ctx: RouteContext, target: Target) -> None:
        sender = address_key(ctx.verdict.sender)
        if not sender or "@" not in sender:
            return
        sub = find_subscriber(ctx, sender)
        if sub is None or (sub.bounce_score == 0 and sub.status != SubscriberStatus.BOUNCING):
            return
        if record_action(ctx, self.name, sender, detail=f"{sub.bounce_score:g} -> 0") is None:
            return
        sub.bounce_score = 0.0
        sub.last_bounce_at = None
        if sub.status == SubscriberStatus.BOUNCING:
            sub.status = SubscriberStatus.ACTIVE
            sub.status_reason = "wrote to us"
            sub.status_changed_at = ctx.now
        touch(ctx, sub)


DISPOSITION = ResetScore()
