"""webhook: POST the verdict as JSON to the configured URL (via the outbox, with retries).

The body carries an ``idempotency_key`` (also sent as the ``Idempotency-Key``
header) so the receiver can drop the rare duplicate a crash between its 2xx
and our commit can cause.
"""

from __future__ import annotations

from responsemaster.routing.context import RouteContext, Target, enqueue, record_action, set_action


class Webhook:
    name = "webhook"
    scope = "message"
    changes_state = False

    def apply(self, ctx: RouteContext, target: Target) -> None:
        url = target.arg or ctx.config.webhook_url
        action = record_action(ctx, self.name, url or "-")
        if action is None:
            return
        if not url:
            set_action(ctx, action, "skipped", "no [routing.webhook] url configured")
            return
        set_action(ctx, action, "queued", url)
        event = {
            "event": "verdict",
            "message_uid": ctx.uid,
            "source": ctx.message.source,
            "key": ctx.message.key,
            "idempotency_key": action.idempotency_key,
            "verdict": ctx.verdict.to_json(),
        }
        enqueue(ctx, action, "webhook", {"url": url, "event": event})


DISPOSITION = Webhook()
