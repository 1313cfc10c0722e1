"""Apply the configured dispositions to one verdict, inside the caller's transaction.

Recipient-scope dispositions run for every address the verdict concerns,
under *that address's* category (a DSN can report a hard failure for one
recipient and a delay for another). Message-scope dispositions (forward,
alert, webhook, move, review) run once, under the message's category.

A forged VERP/Message-ID token never changes anybody's state: every
state-changing disposition is replaced by a ``flagged`` action that records
what would have happened, and the message is logged as usual.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from sqlmodel import Session

from responsemaster.addresses import is_real_address
from responsemaster.categories import REPORTED_BY_A_SYSTEM
from responsemaster.routing.config import RoutingConfig
from responsemaster.routing.context import RouteContext, Target, record_action
from responsemaster.routing.dispositions import DISPOSITIONS
from responsemaster.store.base import utcnow
from responsemaster.store.messages import MessageVerdict, RawMessageRow
from responsemaster.store.recording import Recorded
from responsemaster.verdict import Verdict


def targets_of(verdict: Verdict) -> list[Target]:
    """Each address the verdict concerns, with its own category and reason.

    With one reported recipient and a token-attributed subscriber, the
    subscriber wins: a bounce of a forwarded address names the final
    recipient, but the address on our list is the original one. Only real
    addresses are targets (:func:`subscriber_address`), and the From of a
    bounce or a complaint (the system reporting it) is never one.
    """
    attribution = verdict.attribution
    trusted = attribution.via in ("verp", "message-id") and not attribution.forged_token
    if verdict.recipients:
        if len(verdict.recipients) == 1 and trusted and attribution.subscriber:
            only = verdict.recipients[0]
            return [Target(subscriber_address(attribution.subscriber), only.category, only.reason, confidence=only.confidence)]
        return [Target(subscriber_address(r.address), r.category, r.reason, confidence=r.confidence) for r in verdict.recipients]
    address = attribution.subscriber or ("" if verdict.category in REPORTED_BY_A_SYSTEM else verdict.sender)
    return [Target(subscriber_address(address), verdict.category, verdict.reason, confidence=verdict.confidence)]


def subscriber_address(value: str) -> str:
    """``value`` when it may become a subscriber (the CSV import's check), else ``""``.

    Returned mail names all sorts of things where an address should be
    (``<Undisclosed Recipients>``, a bare local part, a token id): a target
    without an address is logged, and no disposition creates, prunes or
    suppresses anyone for it.
    """
    return value if value and is_real_address(value) else ""


class Router:
    """Dispositions per category, from configuration; stateless between messages."""

    def __init__(self, config: RoutingConfig, var: Path) -> None:
        self.config = config
        self.var = Path(var)

    def route(
        self,
        session: Session,
        message: RawMessageRow | Recorded,
        verdict_row: MessageVerdict | Recorded,
        verdict: Verdict,
        raw: bytes,
        *,
        fresh: bool = False,
        targets: list[Target] | None = None,
    ) -> RouteContext:
        """Write every action (and outbox row) for this verdict; returns the context (outbox ids).

        ``fresh``: the caller inserted ``message`` in this same transaction (the
        worker does), so its actions are written in one statement at the end,
        stamped with the verdict row's time. ``targets``: :func:`targets_of` the verdict, when the
        caller has them already.
        A failure verdict (no category) changes nothing and sends nothing: its
        message belongs in quarantine, and no category's dispositions fit it.
        """
        # A fresh verdict was recorded in this transaction: its actions and changes carry its time (one
        # timestamp for a whole batch, converted once for the database), not a clock read per message.
        now = verdict_row.created_at if fresh else utcnow()
        ctx = RouteContext(session, self.config, message, verdict_row, verdict, raw, self.var, now=now, fresh=fresh)
        if verdict.category is None:
            return ctx
        if targets is None:
            targets = targets_of(verdict)
        if ctx.forged:
            record_action(ctx, "flag_forged_token", verdict.attribution.subscriber or "-", "flagged",
                          "VERP/Message-ID token did not verify: no state change applied")
        for target in targets:
            self._apply(ctx, target, scope="recipient")
        head = targets[0] if targets else Target("", verdict.category, verdict.reason)
        self._apply(ctx, Target(head.address, verdict.category, verdict.reason), scope="message")
        ctx.flush()
        return ctx

    def _apply(self, ctx: RouteContext, target: Target, scope: str) -> None:
        forged = ctx.forged
        for name, arg in self.config.actions_for(target.category):
            disposition = DISPOSITIONS[name]
            if disposition.scope != scope:
                continue
            if forged and disposition.changes_state:
                record_action(ctx, name, target.address or "-", "flagged", "forged token: not applied")
                continue
            # Dispositions only read their target: the same one serves every disposition without an argument.
            disposition.apply(ctx, target if arg == target.arg else replace(target, arg=arg))


def build_router(settings: object) -> Router:
    """The router the settings' ``[routing]`` section describes."""
    from responsemaster.routing.config import load_routing

    return Router(load_routing(settings), settings.var)  # type: ignore[attr-defined]
