"""prune: the address does not exist; never mail it again (status + suppression, no deletion).

Only when the verdict is sure enough (``[routing] prune_confidence``): a less
sure hard bounce becomes a *pending* prune, an action row with status
``pending`` and an item in the review queue, and the address is pruned when
a person confirms it or relabels it as a hard bounce
(:mod:`responsemaster.routing.pending_prune`). Deleting a live subscriber is
the costliest mistake a bounce handler makes; a person's minute is cheap.
"""

from __future__ import annotations

from responsemaster.routing.context import RouteContext, Target, record_action
from responsemaster.routing.pending_prune import queue_for_review
from responsemaster.routing.status import end_subscription
from responsemaster.store.subscribers import SubscriberStatus


class Prune:
    name = "prune"
    scope = "recipient"
    changes_state = True

    def apply(self, ctx: RouteContext, target: Target) -> None:
        threshold = ctx.config.prune_confidence
        if target.address and target.confidence < threshold:
            detail = (f"pending: {target.category}:{target.reason} at confidence {target.confidence:.2f} "
                      f"(below {threshold:.2f}); a person confirms or relabels it in the review queue")
            if record_action(ctx, self.name, target.address, status="pending", detail=detail) is not None:
                queue_for_review(ctx, target)
            return
        end_subscription(ctx, target, self.name, SubscriberStatus.PRUNED, target.category)


DISPOSITION = Prune()
