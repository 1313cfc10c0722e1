"""A session for an endpoint that runs one SELECT: on PostgreSQL, no BEGIN and no ROLLBACK.

Why: a store reader costs four round trips to PostgreSQL per request (the
pool's ping, BEGIN, the SELECT, ROLLBACK), and each one waits for the
database process to get a CPU. On a busy machine those waits, not the
queries, make the slow tail of the hot lookups (measured: the statements
stay under 50 ms while p99 reaches hundreds). One statement needs no
transaction, so in autocommit mode it is two round trips. SQLite (in
process, no round trips) keeps the store's reader.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlmodel import Session

from responsemaster.store.database import Store


@contextmanager
def one_read(store: Store) -> Iterator[Session]:
    """Like ``store.reader()``, for exactly one statement (several would not share a snapshot)."""
    if store.engine.dialect.name != "postgresql":
        with store.reader() as session:
            yield session
        return
    with store.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        with Session(bind=conn, expire_on_commit=False) as session:
            yield session
