"""The review queue's operations, shared by the JSON API and the HTML review page.

The queue is ordered least-confident first: a person's time is best spent
where the model was least sure. Resolving and relabelling are logged in the
operation log in the same transaction; a relabel also writes the message
into the training data (:mod:`responsemaster.classify.model.corrections`) and corrects the recorded
verdict (:mod:`api.verdict_relabel`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from api import oplog
from api.context import ApiContext
from api.schemas import RecipientOut, RelabelOut, ReviewDetail, ReviewOut
from api.verdict_relabel import relabel_verdict
from responsemaster.categories import CATEGORIES
from responsemaster.classify.model.corrections import write_correction
from responsemaster.routing import load_routing, pending_prune
from responsemaster.store.base import address_key, clip, utcnow
from responsemaster.store.messages import MessageVerdict, RawMessageRow, RecipientVerdictRow, ReviewItem

STATES = ("open", "resolved", "all")


class NoSuchItem(LookupError):
    pass


def _base() -> Any:
    return (
        select(ReviewItem, RawMessageRow, MessageVerdict)
        .join(RawMessageRow, RawMessageRow.id == ReviewItem.message_id)
        .join(MessageVerdict, MessageVerdict.message_id == ReviewItem.message_id, isouter=True)
    )


def item_out(item: ReviewItem, raw: RawMessageRow, mv: MessageVerdict | None) -> ReviewOut:
    return ReviewOut(
        id=item.id or 0, message_uid=raw.uid, category=item.category, confidence=round(item.confidence, 4),
        state=item.state, relabelled_to=item.relabelled_to, resolved_by=item.resolved_by,
        resolved_at=item.resolved_at, created_at=item.created_at,
        subject=(mv.subject if mv else "")[:500], sender=(mv.sender if mv else "")[:320],
        decided_by=mv.decided_by if mv else "",
    )


def list_items(session: Any, state: str = "open", limit: int = 50, offset: int = 0,
               after: str | None = None) -> tuple[list[ReviewOut], int, str | None]:
    """One page in queue order, the total in ``state``, and the cursor of the next page (None: last page).

    ``after`` (a cursor from an earlier page) pages by position in the queue,
    not by count, so resolving items while paging neither skips nor repeats one.
    """
    stmt, count = _base(), select(func.count()).select_from(ReviewItem)
    if state != "all":
        stmt, count = stmt.where(ReviewItem.state == state), count.where(ReviewItem.state == state)
    if after:
        stmt = stmt.where(_later_than(*parse_cursor(after)))
    rows = session.execute(stmt.order_by(*QUEUE_ORDER).offset(offset).limit(limit + 1)).all()
    following = _cursor(rows[limit - 1][0]) if len(rows) > limit else None
    return [item_out(*row) for row in rows[:limit]], int(session.execute(count).scalar_one()), following


def open_count(session: Any) -> int:
    """Replies waiting for a person (the dashboard's number and the ``review_open`` metric)."""
    return int(session.execute(select(func.count()).select_from(ReviewItem).where(ReviewItem.state == "open")).scalar_one())


def recent_replies(session: Any, campaigns: list[str], limit: int = 20) -> list[tuple[MessageVerdict, ReviewItem | None]]:
    """The newest replies by people (``user_reply``, ``challenge_response``) to these campaign names, with
    their review item when they have one."""
    newest = (select(MessageVerdict.id)  # from ix_message_verdicts_campaign_category alone, then 20 rows
              .where(MessageVerdict.campaign.in_(campaigns),  # type: ignore[attr-defined]
                     MessageVerdict.category.in_(("user_reply", "challenge_response")))  # type: ignore[attr-defined]
              .order_by(MessageVerdict.id.desc()).limit(limit))  # type: ignore[union-attr]
    rows = session.execute(
        select(MessageVerdict, ReviewItem)
        .join(ReviewItem, ReviewItem.message_id == MessageVerdict.message_id, isouter=True)
        .where(MessageVerdict.id.in_(newest.scalar_subquery()))  # type: ignore[union-attr]
        .order_by(MessageVerdict.id.desc()))  # type: ignore[union-attr]
    return [(mv, item) for mv, item in rows]


#: Least confident first; the id breaks ties so the order is total and a cursor is exact.
QUEUE_ORDER = (ReviewItem.confidence, ReviewItem.id)


def _cursor(item: ReviewItem) -> str:
    return f"{item.confidence!r}:{item.id}"  # repr: the exact float, not the rounded one shown


def parse_cursor(cursor: str) -> tuple[float, int]:
    """``"<confidence>:<id>"`` as made by :func:`list_items`; ValueError if it is not one."""
    confidence, _, item_id = cursor.rpartition(":")
    return float(confidence), int(item_id)


def _later_than(confidence: float, item_id: int) -> Any:
    return (ReviewItem.confidence > confidence) | ((ReviewItem.confidence == confidence) & (ReviewItem.id > item_id))  # type: ignore[operator]


def neighbours(session: Any, item_id: int) -> tuple[int | None, int | None]:
    """Previous and next open items in queue order (for j/k on the page), from the stored (unrounded) confidence."""
    confidence = session.execute(select(ReviewItem.confidence).where(ReviewItem.id == item_id)).scalar_one()
    before = (ReviewItem.confidence < confidence) | ((ReviewItem.confidence == confidence) & (ReviewItem.id < item_id))  # type: ignore[operator]
    open_ = ReviewItem.state == "open"
    nxt = session.execute(select(ReviewItem.id).where(open_, _later_than(confidence, item_id))
                          .order_by(*QUEUE_ORDER).limit(1)).scalar()
    prv = session.execute(select(ReviewItem.id).where(open_, before)
                          .order_by(ReviewItem.confidence.desc(), ReviewItem.id.desc()).limit(1)).scalar()  # type: ignore[attr-defined,union-attr]
    return prv, nxt


def load(session: Any, item_id: int) -> tuple[ReviewItem, RawMessageRow, MessageVerdict | None]:
    row = session.execute(_base().where(ReviewItem.id == item_id)).first()
    if row is None:
        raise NoSuchItem(f"no review item {item_id}")
    return row[0], row[1], row[2]


def detail(session: Any, item_id: int) -> tuple[ReviewDetail, RawMessageRow]:
    item, raw, mv = load(session, item_id)
    recipients = []
    if mv is not None:
        rows = session.execute(select(RecipientVerdictRow).where(RecipientVerdictRow.verdict_id == mv.id)
                               .order_by(RecipientVerdictRow.position)).scalars()
        held = {address_key(a.target) for a in pending_prune.pending(session, raw.id)}
        recipients = [RecipientOut(address=r.address, category=r.category, reason=r.reason, status=r.status,
                                   reply_code=r.reply_code, remote_mta=r.remote_mta, diagnostic=r.diagnostic[:2000],
                                   decided_by=r.decided_by, pending_prune=address_key(r.address) in held)
                      for r in rows]
    out = ReviewDetail(
        item=item_out(item, raw, mv), reason=mv.reason if mv else "", campaign=mv.campaign if mv else "",
        subscriber=mv.subscriber if mv else "", reply_text=mv.reply_text if mv else "",
        recipients=recipients, note=item.note,
    )
    return out, raw


def resolve(ctx: ApiContext, item_id: int, actor: str, address: str, note: str = "") -> ReviewOut:
    with ctx.store.transaction() as session:
        item, raw, mv = load(session, item_id)
        _resolve(item, actor, note)
        session.add(item)
        oplog.record(session, actor, address, "review.resolve", f"review:{item_id}", message=raw.uid, note=note)
        session.flush()
        return item_out(item, raw, mv)


def settle_message(ctx: ApiContext, session: Any, raw: RawMessageRow, mv: MessageVerdict | None, actor: str,
                   category: str) -> list[str]:
    """A message relabel decides every pending prune of it: confirmed as a hard bounce, else cancelled."""
    if category == "hard_bounce":
        return [o.address for o in pending_prune.confirm(session, load_routing(ctx.settings), raw, mv, actor)]
    pending_prune.cancel(session, raw.id or 0, actor, relabelled_to=category)
    return []


def _resolve(item: ReviewItem, actor: str, note: str) -> None:
    if item.state != "resolved":
        item.state = "resolved"
        item.resolved_by = clip(actor, 255)
        item.resolved_at = utcnow()
    if note:
        item.note = clip(note, 4000)


def relabel(ctx: ApiContext, item_id: int, category: str, actor: str, address: str, note: str = "",
            resolve_too: bool = True) -> RelabelOut:
    """Record the correct category on the item and the verdict, and write the message into the training data."""
    if category not in CATEGORIES:
        raise ValueError(f"category must be one of: {', '.join(CATEGORIES)}")
    with ctx.store.transaction() as session:
        item, raw, mv = load(session, item_id)
        previous = item.relabelled_to or item.category
        data = ctx.store.raw_files.read(raw.path)
        relative = write_correction(ctx.training_dir, data, raw.sha256, category, by=actor, source=f"review:{raw.uid}",
                                    previous=previous, message_uid=raw.uid, note=note)
        item.relabelled_to = category
        before = relabel_verdict(session, mv, category, actor) if mv is not None else {}
        pruned = settle_message(ctx, session, raw, mv, actor, category)
        if resolve_too:
            _resolve(item, actor, note)
        elif note:
            item.note = clip(note, 4000)
        session.add(item)
        oplog.record(session, actor, address, "review.relabel", f"review:{item_id}", message=raw.uid,
                     previous=previous, category=category, training_file=relative, verdict_before=before,
                     pruned=pruned)
        session.flush()
        return RelabelOut(item=item_out(item, raw, mv), previous=previous, training_file=relative)
