"""prune: the address does not exist; never mail it again (status + suppression, no deletion).

Only when the verdict is sure enough (``[routing] prune_confidence``): a less
sure hard bounce becomes a *pending* prune, an action row with status
``pending`` and an item in the review queue, and the address is pruned when
a person confirms it or relabels it as a hard bounce
(:mod:`responsemaster.routing.pending_prune`). Deleting a live subscriber is
the costliest mistake a bounce handler makes; a person's minute is cheap.
With ``[routing] require_token_for_prune``, a message whose verified token
does not name the address waits the same way
(:mod:`responsemaster.routing.token_required`).
"""

from __future__ import annotations

from responsemaster.routing.context import RouteContext, Target
from responsemaster.routing.pending_prune import hold
from responsemaster.routing.status import end_subscription
from responsemaster.routing.token_required import UNSIGNED, lacks_token
from responsemaster.store.subscribers import SubscriberStatus


class Prune:
    name = "prune"
    scope = "recipient"
    changes_state = True

    def apply(self, ctx: RouteContext, target: Target) -> None:
        threshold = ctx.config.prune_confidence
        if target.address and target.confidence < threshold:
            hold(ctx, target, f"at confidence {target.confidence:.2f} (below {threshold:.2f})")
            return
        if target.address and lacks_token(ctx, target.address):
            hold(ctx, target, UNSIGNED)
            return
        end_subscription(ctx, target, self.name, SubscriberStatus.PRUNED, target.category)


DISPOSITION = Prune()
