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

The pruned row keeps the evidence: the bounce is added to its score (the
category's weight, ``hard_bounce`` 5 by default) with its time, and the
verdict is its last one, so "why was this address pruned, and when" is
answered from the subscriber alone.
"""

from __future__ import annotations

from responsemaster.routing.context import RouteContext, Target, update_subscriber
from responsemaster.routing.dispositions.bounce_score import add_bounce
from responsemaster.routing.pending_prune import hold
from responsemaster.routing.status import end_subscription
from responsemaster.routing.token_required import UNSIGNED, lacks_token
from responsemaster.store.subscribers import Subscriber, SubscriberStatus


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
        sub = end_subscription(ctx, target, self.name, SubscriberStatus.PRUNED, target.category)
        if sub is not None:
            keep_evidence(ctx, sub, target.category)


def keep_evidence(ctx: RouteContext, sub: Subscriber, category: str) -> None:
    """The pruning bounce on the subscriber's row: its score, its time, the verdict as its last one."""
    add_bounce(ctx, sub, float(ctx.config.bounce_score.weights.get(category, 0.0)))
    update_subscriber(ctx, sub, last_verdict_id=ctx.verdict_row.id, last_category=category, last_verdict_at=ctx.now)


DISPOSITION = Prune()
