"""Routing: what happens to a verdict, per category, as configuration.

``build_router(settings)`` reads ``[routing]``; :class:`Router.route` writes the
actions inside the worker's transaction; :class:`OutboxDeliverer` performs the
external effects (forward, alert, webhook) after commit.
"""

from responsemaster.routing.config import DEFAULT_ACTIONS, RoutingConfig, load_routing
from responsemaster.routing.outbox import OutboxDeliverer
from responsemaster.routing.router import Router, build_router, targets_of

__all__ = ["DEFAULT_ACTIONS", "OutboxDeliverer", "Router", "RoutingConfig", "build_router", "load_routing", "targets_of"]
