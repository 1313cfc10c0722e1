"""Pending prunes: hard bounces not sure enough to prune at once, waiting for a person.

The prune disposition records them as ``actions`` rows (``disposition =
'prune'``, ``status = 'pending'``) and puts the message in the review queue.
A person then either confirms (the address is pruned and suppressed exactly
as an immediate prune would have done, and the action becomes ``done``) or
relabels the recipient or the message as something else (the action becomes
``cancelled``: nothing happens to the subscriber). Both are recorded in the
action's detail with who decided.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from responsemaster.routing.config import RoutingConfig
from responsemaster.routing.context import RouteContext, Target, get_or_create_subscriber, record_action
from responsemaster.routing.status import change_status, suppress
from responsemaster.store.actions import ActionTaken
from responsemaster.store.base import address_key, clip
from responsemaster.store.messages import MessageVerdict, RawMessageRow, ReviewItem
from responsemaster.store.subscribers import SubscriberStatus
from responsemaster.store.upsert import insert_ignore
from responsemaster.verdict import Verdict

PENDING, DONE, CANCELLED = "pending", "done", "cancelled"


def hold(ctx: RouteContext, target: Target, why: str) -> None:
    """Record a pending prune of ``target`` (once) and queue the message for a person, instead of pruning.

    The one way a prune waits: for a verdict below ``prune_confidence`` and, with
    ``require_token_for_prune``, for a message whose token does not name the address.
    """
    detail = f"pending: {target.category}:{target.reason} {why}; a person confirms or relabels it in the review queue"
    if record_action(ctx, "prune", target.address, status=PENDING, detail=detail) is not None:
        queue_for_review(ctx, target)


def queue_for_review(ctx: RouteContext, target: Target) -> None:
    """Put the message in the review queue (once), least confident first."""
    values = {
        "message_id": ctx.message.id, "category": ctx.verdict.category, "confidence": float(target.confidence),
        "state": "open", "relabelled_to": "", "resolved_by": "", "note": "", "created_at": ctx.now,
    }
    insert_ignore(ctx.session, ReviewItem.__table__, values, ["message_id"])  # type: ignore[attr-defined]


@dataclass
class Outcome:
    address: str
    status: str


def pending(session: Any, message_id: int, address: str | None = None) -> list[ActionTaken]:
    """The message's pending prunes (of one address, if given)."""
    stmt = select(ActionTaken).where(ActionTaken.message_id == message_id, ActionTaken.disposition == "prune",
                                     ActionTaken.status == PENDING).order_by(ActionTaken.id)
    rows = list(session.execute(stmt).scalars())
    if address is not None:
        rows = [r for r in rows if address_key(r.target) == address_key(address)]
    return rows


def confirm(session: Any, config: RoutingConfig, message: RawMessageRow, verdict_row: MessageVerdict | None,
            actor: str, address: str | None = None, reason: str = "") -> list[Outcome]:
    """Prune the held addresses (one, if given) as the prune disposition would have; mark the actions done."""
    ctx = RouteContext(session, config, message, verdict_row,  # type: ignore[arg-type]
                       Verdict(category="hard_bounce", confidence=1.0, decided_by=f"review:{actor}"), b"", Path("."))
    out = []
    for action in pending(session, message.id or 0, address):  # type: ignore[arg-type]
        sub = get_or_create_subscriber(ctx, action.target, "hard_bounce")
        why = f"hard_bounce:{reason or _reason_of(action.detail)}"
        changed = change_status(ctx, sub, SubscriberStatus.PRUNED, why)
        suppress(ctx, action.target, "hard_bounce", sub.id)
        if changed and verdict_row is not None:
            from responsemaster.routing.dispositions.prune import keep_evidence  # the disposition imports this module

            keep_evidence(ctx, sub, "hard_bounce")
        _settle(session, action, DONE, f"confirmed by {actor}" + ("" if changed else f"; already {sub.status}"))
        out.append(Outcome(action.target, DONE))
    return out


def cancel(session: Any, message_id: int, actor: str, address: str | None = None,
           relabelled_to: str = "") -> list[Outcome]:
    """Drop the held prunes (one address, if given): a person said it is not a dead address."""
    out = []
    for action in pending(session, message_id, address):
        why = f"cancelled by {actor}" + (f": relabelled {relabelled_to}" if relabelled_to else "")
        _settle(session, action, CANCELLED, why)
        out.append(Outcome(action.target, CANCELLED))
    return out


def _settle(session: Any, action: ActionTaken, status: str, why: str) -> None:
    action.status = status
    action.detail = clip(f"{action.detail}; {why}")
    session.add(action)


def _reason_of(detail: str) -> str:
    """The reason the prune disposition wrote into a pending action's detail."""
    head = detail.removeprefix("pending: ").split(" ", 1)[0]
    return head.partition(":")[2] or "userunknown"
