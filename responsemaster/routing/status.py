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
    update_subscriber,
)
from responsemaster.routing.pending import SUPPRESSION
from responsemaster.store.base import address_key, clip, domain_of
from responsemaster.store.subscribers import ListMembership, Subscriber, SubscriberStatus

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
    update_subscriber(ctx, sub, status=status, status_reason=clip(reason, 255), status_changed_at=ctx.now)
    ending = status in (SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.COMPLAINED, SubscriberStatus.PRUNED)
    if ending and not created_here(ctx, sub):  # a row created by this transaction is on no list
        ctx.session.execute(
            update(ListMembership)
            .where(ListMembership.subscriber_id == sub.id, ListMembership.status == "subscribed")  # type: ignore[arg-type]
            .values(status="unsubscribed", left_at=ctx.now)
        )
    return True


def suppress(ctx: RouteContext, address: str, reason: str, subscriber_id: int | None) -> None:
    """Add ``address`` to the suppression list (once), when the routing's rows are written.

    A complaint is the strongest reason: it replaces a weaker one (with its
    ``by`` and ``since``); any other reason never replaces an existing row.
    """
    values = {
        "address": clip(address, 320),
        "address_key": clip(address_key(address), 320),
        "domain": clip(domain_of(address), 255),
        "reason": reason,
        "since": ctx.now,
        "by": f"message:{ctx.uid}",
        "subscriber_id": subscriber_id,
    }
    ctx.pending.add(SUPPRESSION, values)


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
