"""Leases on source messages and per-source bookkeeping, shared by all workers.

A source may do its own claiming (the Maildir source renames into
``rm-claimed/``); this table is the database-side lease that works for every
source, and it counts attempts: a message whose processing keeps failing (or
keeps killing its worker) is quarantined after ``max_attempts`` instead of
being retried forever in front of the others.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import and_
from sqlmodel import Session

from responsemaster.store.actions import MessageClaim, SourceState
from responsemaster.store.base import utcnow
from responsemaster.store.bulk import insert_rows
from responsemaster.store.upsert import insert_or_update

_claims = MessageClaim.__table__  # type: ignore[attr-defined]
_state = SourceState.__table__  # type: ignore[attr-defined]


def claim(session: Session, source: str, keys: list[str], owner: str, lease_seconds: float) -> dict[str, int]:
    """Take the lease on each key that is free (or ours, or expired): key -> attempts so far.

    Keys leased by another live worker are left out of the result.
    """
    now = utcnow()
    until = now + timedelta(seconds=lease_seconds)
    keys = list(dict.fromkeys(keys))  # each key once: PostgreSQL takes the batch as one statement
    if not keys:
        return {}
    # One statement for the batch, values handed to the driver as they are (store.bulk): through
    # SQLAlchemy's executemany, converting the two timestamps of every row was a twentieth of the
    # worker's own CPU. RETURNING gives the rows it inserted or took over (with their new attempt
    # counts), not those another live worker holds: no second statement to read them back.
    conn = session.connection()
    rows = insert_rows(conn, _claims, [{"source": source, "key": key, "owner": owner, "lease_until": until,
                                        "attempts": 1, "last_error": ""} for key in keys],
                       ("key", "attempts"), on_conflict=_take_lease(conn.dialect.identifier_preparer.quote),
                       extra=(now,))
    return {key: attempts for key, attempts in rows}


def _take_lease(quote: Any) -> str:
    """The ON CONFLICT clause that takes a lease that is ours already or has expired (before ``{}``: now)."""
    table, key = quote(_claims.name), quote("key")
    return (f"ON CONFLICT (source, {key}) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until, "
            f"attempts = {table}.attempts + 1 "
            f"WHERE {table}.owner = excluded.owner OR {table}.lease_until < {{}}")


def release(session: Session, source: str, key: str, owner: str, error: str = "") -> None:
    """Give a lease back early (after a failure), keeping the attempt count and the error."""
    session.execute(
        _claims.update()
        .where(and_(_claims.c.source == source, _claims.c.key == key, _claims.c.owner == owner))
        .values(lease_until=utcnow(), last_error=error[:4000])
    )


def end_leases_of(session: Session, owner_prefix: str) -> None:
    """End now the leases of every owner whose id starts with ``owner_prefix`` (a worker that died).

    The attempt counts stay: a message that killed its worker counts that attempt.
    """
    now = utcnow()
    pattern = owner_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    session.execute(
        _claims.update().where(_claims.c.owner.like(pattern, escape="\\"), _claims.c.lease_until > now).values(lease_until=now)
    )


def note_error(session: Session, source: str, error: str) -> None:
    now = utcnow()
    values = {"name": source, "last_error": error[:4000], "last_error_at": now, "last_batch_at": now}
    insert_or_update(session, _state, values, ["name"], {"last_error": error[:4000], "last_error_at": now})


def note_batch(session: Session, source: str) -> None:
    now = utcnow()
    insert_or_update(session, _state, {"name": source, "last_batch_at": now, "last_error": ""}, ["name"], {"last_batch_at": now})
