"""``[routing] require_token_for_prune``: only a message we signed may prune; the rest wait for a person.

Anyone can send a DSN naming any address, and by default a hard bounce
prunes whoever it names (that is how most returned mail arrives: plenty of
MTAs drop the envelope, and a DSN without our token is still usually
true). An operator whose mailer signs every message (a VERP return path or
a tokened Message-ID on each send) can refuse that: with the option on, a
prune happens only when a verified token of ours names the very address
being pruned. Any other hard bounce becomes a *pending prune*
(:func:`responsemaster.routing.pending_prune.hold`: an action row with status
``pending`` and the message in the review queue), which a person confirms or
cancels like a low-confidence one. Unsigned soft bounces are logged but not
scored, since a score that reaches the threshold prunes too.
"""

from __future__ import annotations

from responsemaster.routing.context import RouteContext
from responsemaster.store.base import address_key

UNSIGNED = "unsigned (no verified token of ours names this address; [routing] require_token_for_prune)"


def lacks_token(ctx: RouteContext, address: str) -> bool:
    """True when the option is on and no verified VERP/Message-ID token in this message names ``address``."""
    if not ctx.config.require_token_for_prune:
        return False
    attribution = ctx.verdict.attribution
    signed = (attribution.via in ("verp", "message-id") and not attribution.forged_token
              and address_key(attribution.subscriber) == address_key(address))
    return not signed
