"""review: put the message in the review queue for support staff (once per message)."""

from __future__ import annotations

from responsemaster.routing.context import RouteContext, Target, record_action
from responsemaster.routing.pending import REVIEW_ITEM


class Review:
    name = "review"
    scope = "message"
    changes_state = False

    def apply(self, ctx: RouteContext, target: Target) -> None:
        if record_action(ctx, self.name, "review-queue") is None:
            return
        values = {
            "message_id": ctx.message.id,
            "category": ctx.verdict.category,
            "confidence": float(ctx.verdict.confidence),
            "state": "open",
            "relabelled_to": "",
            "resolved_by": "",
            "note": "",
            "created_at": ctx.now,
        }
        ctx.pending.add(REVIEW_ITEM, values)


DISPOSITION = Review()
