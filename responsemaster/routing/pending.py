"""Rows routing writes at the end: of one message, or once for a whole batch.

Why buffer: a statement costs far more in the driver and SQLAlchemy than a
row costs in the database, and the worker routes two hundred messages per
transaction. So action rows, outbox rows, suppressions and review items are
collected in a :class:`PendingWrites` and written by :meth:`PendingWrites.write`,
one statement per table, in the order they were made (so ids and "first one
wins" conflicts come out as if each had been written at once).

Per message, :meth:`RouteContext.flush <responsemaster.routing.context.RouteContext.flush>`
writes them when the router is done with it. Inside a batch opened with
:func:`begin_batch`, a fresh message's rows join the batch's buffer
instead, and :func:`finish_batch` writes the lot. Nothing routing *reads*
may depend on the buffered rows, except the two daily caps, which count the
batch's queued actions with :meth:`PendingWrites.queued`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from responsemaster.store.actions import ActionTaken, OutboxItem
from responsemaster.store.bulk import insert_rows
from responsemaster.store.messages import ReviewItem
from responsemaster.store.subscribers import Suppression

_actions = ActionTaken.__table__  # type: ignore[attr-defined]
_outbox = OutboxItem.__table__  # type: ignore[attr-defined]
_suppressions = Suppression.__table__  # type: ignore[attr-defined]
_reviews = ReviewItem.__table__  # type: ignore[attr-defined]
_BATCH = "rm_batch_writes"

#: Kinds of deferred row (:meth:`PendingWrites.add`), in the order :meth:`PendingWrites.write` writes them
#: (each kind is one table and one statement; rows of one kind are written in the order they were made).
SUPPRESSION = "suppression"
REVIEW_ITEM = "review_item"
_KINDS = (SUPPRESSION, REVIEW_ITEM)


@dataclass
class ActionRef:
    """An action row, written (``id`` set) or buffered until it is written."""

    id: int | None
    idempotency_key: str
    status: str
    detail: str
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class PendingWrites:
    actions: list[ActionRef] = field(default_factory=list)
    outbox: list[tuple[ActionRef, dict[str, Any]]] = field(default_factory=list)
    #: (kind, values) in the order they were made.
    rows: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.actions or self.outbox or self.rows)

    def add(self, kind: str, values: dict[str, Any]) -> None:
        self.rows.append((kind, values))

    def take(self, other: PendingWrites) -> None:
        """Move ``other``'s rows behind this one's."""
        self.actions += other.actions
        self.outbox += other.outbox
        self.rows += other.rows
        other.actions, other.outbox, other.rows = [], [], []

    def queued(self, disposition: str, target: str, since: datetime) -> int:
        """Buffered actions of ``disposition`` on ``target`` queued at or after ``since``."""
        return sum(
            1 for a in self.actions
            if a.status == "queued" and a.values["disposition"] == disposition and a.values["target"] == target
            and a.values["created_at"] >= since
        )

    def write(self, session: Session) -> list[int]:
        """Write everything (actions, their outbox rows, then the other rows); the new outbox ids."""
        conn = session.connection()
        outbox_ids: list[int] = []
        if self.actions:
            # Without RETURNING, so the drivers send the rows as one batch; the ids are read
            # back only for the few actions an outbox row points at.
            insert_rows(conn, _actions, [action.values for action in self.actions])
        if self.outbox:
            missing = [action.idempotency_key for action, _values in self.outbox if action.id is None]
            if missing:
                ids = dict(conn.execute(select(_actions.c.idempotency_key, _actions.c.id).where(
                    _actions.c.idempotency_key.in_(missing))).all())
                for action, _values in self.outbox:
                    action.id = ids.get(action.idempotency_key, action.id)
            rows = [{**values, "action_id": action.id} for action, values in self.outbox]
            new = dict((key, new_id) for new_id, key in insert_rows(conn, _outbox, rows, ("id", "idempotency_key")))
            outbox_ids += [new[row["idempotency_key"]] for row in rows]
        for kind in _KINDS:
            rows = [values for row_kind, values in self.rows if row_kind == kind]
            if rows:
                table, key, action = _WRITES[kind]
                insert_rows(conn, table, _one_per_key(kind, key, rows), on_conflict=f"ON CONFLICT ({key}) {action}")
        self.actions, self.outbox, self.rows = [], [], []
        return outbox_ids


#: Per kind: its table, the column a row conflicts on, and what a row whose key exists already does
#: (the same text on SQLite and PostgreSQL). A suppression is kept once per address; a complaint, the
#: strongest reason, replaces a weaker one (with its by and since), any other reason never replaces an
#: existing row. A review item is kept once per message.
_WRITES = {
    SUPPRESSION: (_suppressions, "address_key", 'DO UPDATE SET reason = excluded.reason, "by" = excluded."by", '
                  "since = excluded.since WHERE excluded.reason = 'complaint' AND suppressions.reason <> excluded.reason"),
    REVIEW_ITEM: (_reviews, "message_id", "DO NOTHING"),
}


def _one_per_key(kind: str, key: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with each ``key`` once, as if they had been written one after the other.

    Needed because PostgreSQL takes the lot as one statement, which may not
    change a row twice. A later suppression of the same address changes the
    first only when it is a complaint and the first is not: it then carries
    that complaint's reason, by and since, as :data:`_WRITES` would have
    made it (and makes an existing row).
    """
    kept: dict[Any, dict[str, Any]] = {}
    for row in rows:
        first = kept.get(row[key])
        if first is None:
            kept[row[key]] = row
        elif kind == SUPPRESSION and row["reason"] == "complaint" and first["reason"] != "complaint":
            kept[row[key]] = {**first, "reason": row["reason"], "by": row["by"], "since": row["since"]}
    return list(kept.values())


def begin_batch(session: Session) -> None:
    """From now on, fresh messages routed in ``session`` leave their rows to :func:`finish_batch`."""
    session.info[_BATCH] = PendingWrites()


def batch_of(session: Session) -> PendingWrites | None:
    """The open batch's buffer, if any."""
    return session.info.get(_BATCH)


def finish_batch(session: Session) -> list[int]:
    """Write the batch's rows (a few statements for the whole batch); the new outbox ids."""
    pending = session.info.pop(_BATCH, None)
    return pending.write(session) if pending else []
