"""record_moved: an "I have moved, write to X" notice; record X on the subscriber, never apply it.

Changing someone's address on the word of an auto-reply would let anyone
redirect a subscription; an operator (or the person) decides.
"""

from __future__ import annotations

from responsemaster.addresses import is_real_address
from responsemaster.routing.context import RouteContext, Target, get_or_create_subscriber, record_action, update_subscriber
from responsemaster.store.base import clip


class RecordMoved:
    name = "record_moved"
    scope = "recipient"
    changes_state = True

    def apply(self, ctx: RouteContext, target: Target) -> None:
        suggested = ctx.verdict.suggested_address
        if not suggested or not target.address or not is_real_address(suggested):
            return
        if record_action(ctx, self.name, target.address, detail=f"suggested {suggested}") is None:
            return
        sub = get_or_create_subscriber(ctx, target.address, target.category)
        update_subscriber(ctx, sub, suggested_address=clip(suggested, 320))


DISPOSITION = RecordMoved()
