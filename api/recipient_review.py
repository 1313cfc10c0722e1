"""Correcting one recipient of a reviewed message, and confirming pending prunes.

A bounce reports recipients, each with its own verdict; a reviewer corrects
the one that is wrong. The correction goes where a message relabel goes (the
training data, through :func:`write_correction`, now with a recipient-level
label; the recorded verdict; the operation log), and it settles that
address's pending prune: relabelled a hard bounce, the address is pruned;
relabelled anything else, the prune is cancelled. The message's own
category follows its first recipient (docs/bounces.md), so correcting the
first recipient relabels the message too.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from api import oplog
from api.context import ApiContext
from api.review_ops import NoSuchItem, _resolve, item_out, load
from api.schemas import ConfirmPruneOut, RecipientRelabelOut
from api.verdict_relabel import relabel_verdict
from responsemaster.categories import DEFAULT_REASON, Category
from responsemaster.classify.model.corrections import check_label, write_correction
from responsemaster.classify.model.dataset import RecipientLabel
from responsemaster.routing import load_routing, pending_prune
from responsemaster.store.base import address_key, clip
from responsemaster.store.messages import RecipientVerdictRow

HARD = "hard_bounce"


class NoPendingPrune(LookupError):
    pass


def recipient_rows(session: Any, verdict_id: int) -> list[RecipientVerdictRow]:
    stmt = select(RecipientVerdictRow).where(RecipientVerdictRow.verdict_id == verdict_id)
    return list(session.execute(stmt.order_by(RecipientVerdictRow.position)).scalars())


def relabel_recipient(ctx: ApiContext, item_id: int, address: str, category: str, reason: str, actor: str,
                      client: str, note: str = "", resolve_too: bool = False) -> RecipientRelabelOut:
    """Correct one recipient's category and reason; write the training example; settle its pending prune."""
    check_label(category, reason)
    with ctx.store.transaction() as session:
        item, raw, mv = load(session, item_id)
        rows = recipient_rows(session, mv.id) if mv is not None else []
        row = next((r for r in rows if address_key(r.address) == address_key(address)), None)
        if mv is None or row is None:
            raise NoSuchItem(f"review item {item_id} reports no recipient {address!r}")
        first = row is rows[0]
        reason = reason or DEFAULT_REASON[Category(category)]
        message_category = category if first else (item.relabelled_to or mv.category)
        relative = write_correction(
            ctx.training_dir, ctx.store.raw_files.read(raw.path), raw.sha256, message_category, by=actor,
            source=f"review:{raw.uid}", previous=item.relabelled_to or item.category,
            reason=reason if first else "", recipients=[RecipientLabel(row.address, category, reason)],
            message_uid=raw.uid, note=note)
        before = (row.category, row.reason)
        row.category, row.reason, row.decided_by = category, reason, clip(f"review:{actor}", 255)
        session.add(row)
        if first:
            relabel_verdict(session, mv, category, actor)
            mv.reason = reason
            item.relabelled_to = category
        prune = _settle(ctx, session, raw, mv, actor, row.address, category, reason)
        if resolve_too:
            _resolve(item, actor, note)
        session.add(item)
        oplog.record(session, actor, client, "review.relabel_recipient", f"review:{item_id}", message=raw.uid,
                     recipient=row.address, previous=list(before), category=category, reason=reason,
                     training_file=relative, prune=prune)
        session.flush()
        return RecipientRelabelOut(item=item_out(item, raw, mv), address=row.address, previous_category=before[0],
                                   previous_reason=before[1], category=category, reason=reason,
                                   training_file=relative, prune=prune)


def confirm_prunes(ctx: ApiContext, item_id: int, actor: str, client: str, address: str | None = None,
                   note: str = "") -> ConfirmPruneOut:
    """Prune the held addresses of the message (one, if given) and resolve the item when none is left."""
    with ctx.store.transaction() as session:
        item, raw, mv = load(session, item_id)
        done = pending_prune.confirm(session, load_routing(ctx.settings), raw, mv, actor, address)
        if not done:
            raise NoPendingPrune(f"review item {item_id} has no pending prune" + (f" for {address!r}" if address else ""))
        if not pending_prune.pending(session, raw.id):
            _resolve(item, actor, note)
            session.add(item)
        pruned = [o.address for o in done]
        oplog.record(session, actor, client, "review.confirm_prune", f"review:{item_id}", message=raw.uid,
                     pruned=pruned, note=note)
        session.flush()
        return ConfirmPruneOut(item=item_out(item, raw, mv), pruned=pruned)


def _settle(ctx: ApiContext, session: Any, raw: Any, mv: Any, actor: str, address: str, category: str,
            reason: str) -> str:
    if category == HARD:
        done = pending_prune.confirm(session, load_routing(ctx.settings), raw, mv, actor, address, reason)
        return "done" if done else ""
    return "cancelled" if pending_prune.cancel(session, raw.id, actor, address, relabelled_to=category) else ""
