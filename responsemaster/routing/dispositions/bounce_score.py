"""bounce_score: Mailman's bounce score, with listmonk's "actions are settings".

Each bounce adds its category's weight to the address's score; at most one
bounce counts per day (a flood of retries from one outage is one event); a
score whose last bounce is older than ``stale_days`` starts again from zero;
at ``threshold`` the address is pruned (status + suppression, never deleted).
Proof that the address works clears the score (:func:`clear_score`): mail
*from* the address (``reset_score``) or a report that our mail reached it
(``good_delivery``).
"""

from __future__ import annotations

from datetime import timedelta

from responsemaster.routing.context import (
    RouteContext,
    Target,
    find_subscriber,
    get_or_create_subscriber,
    record_action,
    set_action,
    update_subscriber,
)
from responsemaster.routing.status import change_status, suppress
from responsemaster.routing.token_required import lacks_token
from responsemaster.store.base import clip
from responsemaster.store.subscribers import NOT_MAILABLE, Subscriber, SubscriberStatus


class BounceScore:
    name = "bounce_score"
    scope = "recipient"
    changes_state = True

    def apply(self, ctx: RouteContext, target: Target) -> None:
        if not target.address:
            return
        if lacks_token(ctx, target.address):  # a score at the threshold prunes: only signed bounces count
            record_action(ctx, self.name, target.address, "skipped", "unsigned: not scored (require_token_for_prune)")
            return
        action = record_action(ctx, self.name, target.address)
        if action is None:
            return
        settings = ctx.config.bounce_score
        weight = float(settings.weights.get(target.category, 0.0))
        sub = get_or_create_subscriber(ctx, target.address, target.category)
        if sub.status in NOT_MAILABLE:
            set_action(ctx, action, "skipped", f"already {sub.status}")
            return
        last = sub.last_bounce_at
        fresh = last is not None and ctx.now - last <= timedelta(days=settings.stale_days)
        if fresh and settings.once_per_day and last.date() == ctx.now.date():  # type: ignore[union-attr]
            set_action(ctx, action, "skipped", f"already scored today (score {sub.bounce_score:g})")
            return
        add_bounce(ctx, sub, weight)
        detail = f"+{weight:g} -> {sub.bounce_score:g} / {settings.threshold:g}"
        if sub.bounce_score >= settings.threshold:
            change_status(ctx, sub, SubscriberStatus.PRUNED, f"bounce_score:{sub.bounce_score:g}")
            suppress(ctx, target.address, "bounce_score", sub.id)
            detail += " (pruned)"
        elif weight > 0:
            change_status(ctx, sub, SubscriberStatus.BOUNCING, f"{target.category}:{target.reason}")
        set_action(ctx, action, "done", detail)


def add_bounce(ctx: RouteContext, sub: Subscriber, weight: float) -> None:
    """Add ``weight`` to the score (from zero when the last bounce is stale) and note when."""
    last = sub.last_bounce_at
    stale = last is not None and ctx.now - last > timedelta(days=ctx.config.bounce_score.stale_days)
    before = 0.0 if stale else sub.bounce_score  # stale: the old bounces no longer say anything
    update_subscriber(ctx, sub, bounce_score=round(before + weight, 6), last_bounce_at=ctx.now)


def clear_score(ctx: RouteContext, disposition: str, address: str, why: str) -> None:
    """The address works: its score times ``reset_factor`` (0, the default: back to zero).

    Recorded as an action only when there is something to clear. ``bouncing``
    goes back to ``active`` once the score is zero; a status that ended the
    subscription (pruned, unsubscribed, complained) is never undone here.
    """
    sub = find_subscriber(ctx, address)
    if sub is None or (sub.bounce_score == 0 and sub.status != SubscriberStatus.BOUNCING):
        return
    after = round(sub.bounce_score * ctx.config.bounce_score.reset_factor, 6)
    if record_action(ctx, disposition, address, detail=f"{sub.bounce_score:g} -> {after:g}: {why}") is None:
        return
    changes: dict[str, object] = {"bounce_score": after}
    if after == 0:
        changes["last_bounce_at"] = None
        if sub.status == SubscriberStatus.BOUNCING:
            changes.update(status=SubscriberStatus.ACTIVE, status_reason=clip(f"{disposition}: {why}", 255),
                           status_changed_at=ctx.now)
    update_subscriber(ctx, sub, **changes)


DISPOSITION = BounceScore()
