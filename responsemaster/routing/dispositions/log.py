"""log: record that the verdict concerns this address (the verdict rows are the log).

Updates the subscriber's "last verdict" columns when the address is known;
an unknown address is not turned into a subscriber just for being mentioned.
"""

from __future__ import annotations

import logging

from responsemaster.routing.context import RouteContext, Target, find_subscriber, record_action, touch

logger = logging.getLogger("responsemaster.routing")


class Log:
    name = "log"
    scope = "recipient"
    changes_state = False

    def apply(self, ctx: RouteContext, target: Target) -> None:
        if record_action(ctx, self.name, target.address or "-", detail=f"{target.category}/{target.reason}") is None:
            return
        logger.info("%s %s %s %s", ctx.uid, target.category, target.reason, target.address or "-")
        sub = find_subscriber(ctx, target.address) if target.address else None
        if sub is not None:
            sub.last_verdict_id = ctx.verdict_row.id
            sub.last_category = target.category
            sub.last_verdict_at = ctx.now
            touch(ctx, sub)


DISPOSITION = Log()
