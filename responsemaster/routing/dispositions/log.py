"""log: the verdict concerns this address (a log line, and the subscriber's "last verdict").

The record is the verdict rows themselves (``message_verdicts`` and one
``recipient_verdicts`` row per address, written before routing): ``log``
writes no action row. It did, one per address of every message, which
nothing read: it repeated the recipient row (address, category, reason),
was the largest table of the database, and cost the worker about a tenth of
its own CPU (issue 13). ``actions`` keeps what changed state or made an effect.

Updates the subscriber's "last verdict" columns when the address is known;
an unknown address is not turned into a subscriber just for being mentioned.
"""

from __future__ import annotations

import logging

from responsemaster.routing.context import RouteContext, Target, find_subscriber, update_subscriber

logger = logging.getLogger("responsemaster.routing")


class Log:
    name = "log"
    scope = "recipient"
    changes_state = False

    def apply(self, ctx: RouteContext, target: Target) -> None:
        address = target.address or "-"
        if address in ctx.logged:  # a verdict naming one address twice is logged once
            return
        ctx.logged.add(address)
        logger.info("%s %s %s %s", ctx.uid, target.category, target.reason, address)
        sub = find_subscriber(ctx, target.address) if target.address else None
        # Never back to an older verdict (a message routed again after later ones were recorded).
        if sub is not None and (sub.last_verdict_id or 0) <= ctx.verdict_row.id:
            update_subscriber(ctx, sub, last_verdict_id=ctx.verdict_row.id, last_category=target.category,
                              last_verdict_at=ctx.now)


DISPOSITION = Log()
