"""Subscriber status changes and suppressions: the only way routing prunes.

Nothing is deleted. A status changes (with when and why), list memberships
are marked left, and a suppression row records the address, the reason and
the message that decided it. Stronger states win: a complaint is never
downgraded to an unsubscribe or a prune.
"""

from __future__ import annotations

from sqlalchemy import update

from responsemaster.routing.context import (
    RouteContext,
    Target,
    created_here,
    get_or_create_subscriber,
    record_action,
    set_action,
    touch,
)
from responsemaster.store.base import address_key, clip, domain_of
from responsemaster.store.subscribers import ListMembership, Subscriber, SubscriberStatus, Suppression
from responsemaster.store.upsert import insert_ignore, insert_or_update

_RANK = {
    SubscriberStatus.ACTIVE: 0,
    SubscriberStatus.BOUNCING: 1,
    SubscriberStatus.PRUNED: 2,
    SubscriberStatus.UNSUBSCRIBED: 3,
    SubscriberStatus.COMPLAINED: 4,
}


def change_status(ctx: RouteContext, sub: Subscriber, status: SubscriberStatus, reason: str) -> bool:
    """Move ``sub`` to ``status`` unless it already is there or somewhere stronger."""
    if sub.status == status or _RANK.get(SubscriberStatus(sub.status), 0) > _RANK[status]:
        return False
    sub.status = status
    sub.status_reason = clip(reason, 255)
    sub.status_changed_at = ctx.now
    touch(ctx, sub)
    ending = status in (SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.COMPLAINED, SubscriberStatus.PRUNED)
    if ending and not created_here(ctx, sub):  # a row created by this transaction is on no list
        ctx.session.execute(
            update(ListMembership)
            .where(ListMembership.subscriber_id == sub.id, ListMembership.status == "subscribed")  # type: ignore[arg-type]
            .values(status="unsubscribed", left_at=ctx.now)
        )
    return True


def suppress(ctx: RouteContext, address: str, reason: str, subscriber_id: int | None) -> bool:
    """Add ``address`` to the suppression list (once); True when it was new."""
    values = {
        "address": clip(address, 320),
        "address_key": clip(address_key(address), 320),
        "domain": clip(domain_of(address), 255),
        "reason": reason,
        "since": ctx.now,
        "by": f"message:{ctx.uid}",
        "subscriber_id": subscriber_id,
    }
    table = Suppression.__table__  # type: ignore[attr-defined]
    if reason == "complaint":  # a complaint is the strongest reason: it replaces a weaker one
        update_values = {"reason": reason, "by": values["by"], "since": ctx.now}
        return bool(insert_or_update(ctx.session, table, values, ["address_key"], update_values, table.c.reason != reason))
    return bool(insert_ignore(ctx.session, table, values, ["address_key"]))


def end_subscription(
    ctx: RouteContext, target: Target, disposition: str, status: SubscriberStatus, suppression_reason: str
) -> Subscriber | None:
    """Record ``disposition`` once, move the subscriber to ``status`` and suppress the address.

    Prune and unsubscribe differ only in the status and the suppression's
    reason; the row is never deleted and a repeat is recorded as skipped.
    Returns the subscriber when this message changed it, else None.
    """
    if not target.address:
        return None
    action = record_action(ctx, disposition, target.address)
    if action is None:
        return None
    sub = get_or_create_subscriber(ctx, target.address, target.category)
    changed = change_status(ctx, sub, status, f"{target.category}:{target.reason}")
    suppress(ctx, target.address, suppression_reason, sub.id)
    if not changed:
        set_action(ctx, action, "skipped", f"already {sub.status}")
        return None
    return sub
