"""``INSERT ... ON CONFLICT`` for the two dialects we run on, behind one function.

Both SQLite and PostgreSQL speak the same ON CONFLICT clause; SQLAlchemy only
spells it per dialect. Used where two workers may create the same row at once
(a subscriber first seen by two bounces, a claim on the same message).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session


def dialect_insert(session: Session, table: Table) -> Any:
    """The dialect's INSERT (with ON CONFLICT support) for ``table``."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no ON CONFLICT support for {dialect}")


def insert_ignore(session: Session, table: Table, values: dict[str, Any], conflict: list[str]) -> int:
    """Insert unless a row with the same ``conflict`` columns exists; rows inserted (0 or 1)."""
    stmt = dialect_insert(session, table).values(**values).on_conflict_do_nothing(index_elements=conflict)
    return _touched(session, stmt, table)


def insert_or_update(
    session: Session,
    table: Table,
    values: dict[str, Any],
    conflict: list[str],
    update: dict[str, Any],
    where: Any = None,
) -> int:
    """Insert, or update the existing row (only where ``where`` holds); rows touched."""
    stmt = dialect_insert(session, table).values(**values)
    stmt = stmt.on_conflict_do_update(index_elements=conflict, set_=update, where=where)
    return _touched(session, stmt, table)


def _touched(session: Session, stmt: Any, table: Table) -> int:
    """Rows written, counted through RETURNING: psycopg reports rowcount -1 for INSERT ... RETURNING."""
    stmt = stmt.returning(*table.primary_key.columns)
    return len(session.connection().execute(stmt).fetchall())
