"""alert: tell the deliverability address that a receiver rejected us (block, policy).

Capped per recipient domain per day (``max_alerts_per_domain``): one
blacklisting produces thousands of identical bounces, and the operator needs
to hear about it, not to be buried by it.
"""

from __future__ import annotations

from responsemaster.routing.context import RouteContext, Target, enqueue, queued_today, record_action, set_action
from responsemaster.store.base import domain_of


class Alert:
    name = "alert"
    scope = "message"
    changes_state = False

    def apply(self, ctx: RouteContext, target: Target) -> None:
        domain = domain_of(target.address) or "-"
        action = record_action(ctx, self.name, domain, detail=f"{target.category}/{target.reason}")
        if action is None:
            return
        if not ctx.config.alert_to:
            set_action(ctx, action, "skipped", "no [routing] alert_to configured")
            return
        if queued_today(ctx, self.name, domain) >= ctx.config.max_alerts_per_domain:
            set_action(ctx, action, "skipped", f"cap: {ctx.config.max_alerts_per_domain} alerts for {domain} today")
            return
        set_action(ctx, action, "queued", f"to {ctx.config.alert_to}")
        first = ctx.verdict.recipients[0] if ctx.verdict.recipients else None
        enqueue(
            ctx,
            action,
            "alert",
            {
                "uid": ctx.uid,
                "to": ctx.config.alert_to,
                "category": target.category,
                "reason": target.reason,
                "domain": domain,
                "address": target.address,
                "status": first.status if first else "",
                "remote_mta": first.remote_mta if first else "",
                "diagnostic": first.diagnostic if first else "",
                "message_id": f"<rm-alert.{ctx.uid}@{ctx.config.from_address.rpartition('@')[2] or 'localhost'}>",
            },
        )


DISPOSITION = Alert()
