"""One module per disposition, found through this one registry.

A disposition has a ``name`` (what the config says), a ``scope`` (``recipient``:
applied to every address the verdict concerns, under that address's own
category; ``message``: once per message), ``changes_state`` (True for the ones
a forged VERP token must never trigger) and ``apply(ctx, target)``.
"""

from __future__ import annotations

from typing import Protocol

from responsemaster.routing.context import RouteContext, Target
from responsemaster.routing.dispositions import (
    alert,
    bounce_score,
    forward,
    good_delivery,
    log,
    move,
    prune,
    record_moved,
    reset_score,
    review,
    suppress,
    unsubscribe,
    webhook,
)


class Disposition(Protocol):
    name: str
    scope: str
    changes_state: bool

    def apply(self, ctx: RouteContext, target: Target) -> None: ...


_MODULES = (alert, bounce_score, forward, good_delivery, log, move, prune, record_moved, reset_score, review, suppress, unsubscribe, webhook)

DISPOSITIONS: dict[str, Disposition] = {module.DISPOSITION.name: module.DISPOSITION for module in _MODULES}
