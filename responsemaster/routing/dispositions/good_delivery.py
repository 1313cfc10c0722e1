"""good_delivery: a report that our mail reached the address (DSN "delivered", a read receipt).

The counterpart of ``bounce_score``: a success DSN (``Action: delivered``,
reason ``delivered``) or a read receipt (MDN, reason ``read_receipt``) for a
subscriber is proof that the mailbox works today, so their score is cleared
(see :func:`~responsemaster.routing.dispositions.bounce_score.clear_score`).
A delay warning (reason ``delayed``) proves nothing and changes nothing.
Per recipient: a DSN can report a delivery to one address and a delay for another.
"""

from __future__ import annotations

from responsemaster.routing.context import RouteContext, Target
from responsemaster.routing.dispositions.bounce_score import clear_score

#: Reasons that say the message reached the mailbox.
GOOD_REASONS = frozenset({"delivered", "read_receipt"})


class GoodDelivery:
    name = "good_delivery"
    scope = "recipient"
    changes_state = True

    def apply(self, ctx: RouteContext, target: Target) -> None:
        if target.address and target.reason in GOOD_REASONS:
            clear_score(ctx, self.name, target.address, f"{target.category}/{target.reason}")


DISPOSITION = GoodDelivery()
