"""Storage: SQLModel tables, one engine factory, Alembic migrations run from code.

Public entry points: :func:`open_store` (engine + migrations + kept raw
files), :func:`make_engine`, :func:`upgrade_to_head`.
"""

from responsemaster.store.database import Store, message_uid, open_store
from responsemaster.store.engine import make_engine
from responsemaster.store.migrate import upgrade_to_head

__all__ = ["Store", "make_engine", "message_uid", "open_store", "upgrade_to_head"]
