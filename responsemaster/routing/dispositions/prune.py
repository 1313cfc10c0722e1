"""prune: the address does not exist; never mail it again (status + suppression, no deletion).

The pruned row keeps the evidence: the bounce is added to its score (the
category's weight, ``hard_bounce`` 5 by default) with its time, and the
verdict is its last one, so "why was this address pruned, and when" is
answered from the subscriber alone.
"""

from __future__ import annotations

from responsemaster.routing.context import RouteContext, Target
from responsemaster.routing.dispositions.bounce_score import add_bounce
from responsemaster.routing.status import end_subscription
from responsemaster.store.subscribers import SubscriberStatus


class Prune:
    name = "prune"
    scope = "recipient"
    changes_state = True

    def apply(self, ctx: RouteContext, target: Target) -> None:
        sub = end_subscription(ctx, target, self.name, SubscriberStatus.PRUNED, target.category)
        if sub is not None:
            add_bounce(ctx, sub, float(ctx.config.bounce_score.weights.get(target.category, 0.0)))
            sub.last_verdict_id, sub.last_category, sub.last_verdict_at = ctx.verdict_row.id, target.category, ctx.now


DISPOSITION = Prune()
