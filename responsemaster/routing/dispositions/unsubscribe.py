"""unsubscribe: the person asked (or complained); unsubscribe and suppress at once."""

from __future__ import annotations

from responsemaster.routing.context import RouteContext, Target
from responsemaster.routing.status import end_subscription
from responsemaster.store.subscribers import SubscriberStatus


class Unsubscribe:
    name = "unsubscribe"
    scope = "recipient"
    changes_state = True

    def apply(self, ctx: RouteContext, target: Target) -> None:
        end_subscription(ctx, target, self.name, SubscriberStatus.UNSUBSCRIBED, "unsubscribe")


DISPOSITION = Unsubscribe()
