"""The store handle the worker, router and API share: an engine and a var dir.

Passed explicitly (never a global). ``open_store(settings)`` is what every
command calls: it builds the engine and migrates to head first, so a fresh
machine needs no setup step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlmodel import Session

from responsemaster.store.engine import make_engine
from responsemaster.store.migrate import upgrade_to_head
from responsemaster.store.rawfiles import RawFiles

if TYPE_CHECKING:
    from responsemaster.config import Settings


def message_uid(source: str, key: str) -> str:
    """The stable id of a source message: same (source, key), same id, on any machine."""
    return hashlib.sha256(f"{source}\0{key}".encode("utf-8", "surrogateescape")).hexdigest()[:32]


class Store:
    """Engine + kept raw files; opens sessions whose transactions commit or roll back whole."""

    def __init__(self, engine: Engine, var: Path) -> None:
        self.engine = engine
        self.var = Path(var)
        self.raw_files = RawFiles(self.var / "messages")

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: committed on success, rolled back on any exception."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def reader(self) -> Iterator[Session]:
        """A read-only session (on SQLite it does not take the write lock)."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(readonly=True)
            with Session(bind=conn, expire_on_commit=False) as session:
                yield session

    def close(self) -> None:
        self.engine.dispose()


def open_store(settings: Settings, *, migrate: bool = True) -> Store:
    """The store the settings name, migrated to head."""
    engine = make_engine(settings)
    if migrate:
        upgrade_to_head(engine)
    return Store(engine, settings.var)
