"""unsubscribe: the person asked (or complained); unsubscribe and suppress at once."""

from __future__ import annotations

from responsemaster.routing.context import RouteContext, Target, get_or_create_subscriber, record_action, set_action
from responsemaster.routing.status import change_status, suppress
from responsemaster.store.subscribers import SubscriberStatus


class Unsubscribe:
    name = "unsubscribe"
    scope = "recipient"
    changes_state = True

    def apply(self, ctx: RouteContext, target: Target) -> None:
        if not target.address:
            return
        action = record_action(ctx, self.name, target.address)
        if action is None:
            return
        sub = get_or_create_subscriber(ctx, target.address)
        changed = change_status(ctx, sub, SubscriberStatus.UNSUBSCRIBED, f"{target.category}:{target.reason}")
        suppress(ctx, target.address, "unsubscribe", sub.id)
        if not changed:
            set_action(ctx, action, "skipped", f"already {sub.status}")


DISPOSITION = Unsubscribe()
