"""prune: the address does not exist; never mail it again (status + suppression, no deletion)."""

from __future__ import annotations

from responsemaster.routing.context import RouteContext, Target
from responsemaster.routing.status import end_subscription
from responsemaster.store.subscribers import SubscriberStatus


class Prune:
    name = "prune"
    scope = "recipient"
    changes_state = True

    def apply(self, ctx: RouteContext, target: Target) -> None:
        end_subscription(ctx, target, self.name, SubscriberStatus.PRUNED, target.category)


DISPOSITION = Prune()
