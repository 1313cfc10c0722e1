"""suppress: a spam complaint; mark the subscriber complained and suppress the address."""

from __future__ import annotations

from responsemaster.routing.context import RouteContext, Target, get_or_create_subscriber, record_action
from responsemaster.routing.status import change_status, suppress
from responsemaster.store.subscribers import SubscriberStatus


class Suppress:
    name = "suppress"
    scope = "recipient"
    changes_state = True

    def apply(self, ctx: RouteContext, target: Target) -> None:
        if not target.address:
            return
        if record_action(ctx, self.name, target.address, detail=ctx.verdict.feedback_type) is None:
            return
        sub = get_or_create_subscriber(ctx, target.address, target.category)
        change_status(ctx, sub, SubscriberStatus.COMPLAINED, f"complaint:{ctx.verdict.feedback_type or 'abuse'}")
        suppress(ctx, target.address, "complaint", sub.id)


DISPOSITION = Suppress()
