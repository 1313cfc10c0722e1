"""A reviewer's relabel corrects the recorded verdict, and the per-day counts move with it.

Why here and not only in the training data: the counts, the subscriber's
verdict history and ``export verdicts`` read ``message_verdicts``; if a person
says "this was an out-of-office, not a reply", every one of them must say so
from then on. The old reason belonged to the old category, so it is cleared;
``decided_by`` becomes ``review:<actor>`` and the confidence 1.0. What it was
before (category, reason, decided_by, confidence) is returned for the
operation log, where who and when are recorded with it.

``verdict_day_counts`` is kept by an INSERT trigger (migration ``0003_api``);
an UPDATE has no trigger, so the one row per dimension the verdict was counted
in is moved here, in the same transaction. The per-campaign, per-domain counts
(migration ``0010``) have an UPDATE trigger of their own: the verdict's UPDATE
is flushed first, so this transaction locks their row before the day counts'
rows, in the order an INSERT's triggers take them (a worker inserting verdicts
meanwhile on PostgreSQL cannot deadlock with it).
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from sqlalchemy import and_, delete, update

from responsemaster.store.base import clip
from responsemaster.store.hygiene_counts import VerdictDayCount
from responsemaster.store.messages import MessageVerdict
from responsemaster.store.upsert import insert_or_update

COUNTS: Any = VerdictDayCount.__table__  # type: ignore[attr-defined]
KEY = ["dimension", "value", "day", "category", "reason"]


def relabel_verdict(session: Any, verdict: MessageVerdict, category: str, actor: str) -> dict[str, Any]:
    """Set ``verdict``'s category (and move its count); the previous values."""
    previous = {"category": verdict.category, "reason": verdict.reason, "decided_by": verdict.decided_by,
                "confidence": verdict.confidence}
    if verdict.category == category:
        return previous
    verdict.category = category
    verdict.reason = ""
    verdict.decided_by = clip(f"review:{actor}", 255)
    verdict.confidence = 1.0
    session.add(verdict)
    session.flush()  # the UPDATE (and its campaign/domain count trigger) before the day counts move
    if verdict.error is None:  # only verdicts without an error are counted (see hygiene_counts)
        _move_count(session, verdict, previous["category"], previous["reason"], category)
    return previous


def _move_count(session: Any, verdict: MessageVerdict, was: str, reason: str, category: str) -> None:
    """One count per dimension from (``was``, ``reason``) to (``category``, no reason), on the verdict's day."""
    day = verdict.created_at.astimezone(UTC).date().isoformat()
    for dimension, value in (("all", ""), ("domain", verdict.domain), ("campaign", verdict.campaign)):
        old = and_(COUNTS.c.dimension == dimension, COUNTS.c.value == value, COUNTS.c.day == day,
                   COUNTS.c.category == was, COUNTS.c.reason == reason)
        session.execute(update(COUNTS).where(old).values(n=COUNTS.c.n - 1))
        session.execute(delete(COUNTS).where(old, COUNTS.c.n <= 0))
        insert_or_update(session, COUNTS, {"dimension": dimension, "value": value, "day": day,
                                           "category": category, "reason": "", "n": 1},
                         conflict=KEY, update={"n": COUNTS.c.n + 1})
