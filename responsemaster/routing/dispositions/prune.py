"""prune: the address does not exist; never mail it again (status + suppression, no deletion).

With ``[routing] require_token_for_prune``, only a message whose verified
token names the address prunes it; otherwise the prune waits in the review
queue (:mod:`responsemaster.routing.token_required`).
"""

from __future__ import annotations

from responsemaster.routing.context import RouteContext, Target
from responsemaster.routing.status import end_subscription
from responsemaster.routing.token_required import hold_prune, lacks_token
from responsemaster.store.subscribers import SubscriberStatus


class Prune:
    name = "prune"
    scope = "recipient"
    changes_state = True

    def apply(self, ctx: RouteContext, target: Target) -> None:
        if target.address and lacks_token(ctx, target.address):
            hold_prune(ctx, target)
            return
        end_subscription(ctx, target, self.name, SubscriberStatus.PRUNED, target.category)


DISPOSITION = Prune()
