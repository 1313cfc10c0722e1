"""Alembic, run from code at start-up: every command calls :func:`upgrade_to_head`.

Two processes starting at once must not both create the tables: on SQLite the
``BEGIN IMMEDIATE`` of our engine serialises them, on PostgreSQL a
transaction-scoped advisory lock does. The second one finds the schema at
head and does nothing.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: Arbitrary constant: the advisory lock id ResponseMaster's migrations take.
_PG_LOCK_ID = 0x52_4D_4D_49  # "RMMI"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade_to_head(engine: Engine) -> None:
    """Bring the database schema to the newest migration (idempotent, concurrent-safe)."""
    config = alembic_config()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
        if _current(conn) == head_revision():
            return
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return _current(conn)


def _current(conn) -> str | None:  # type: ignore[no-untyped-def]
    return MigrationContext.configure(conn).get_current_revision()
