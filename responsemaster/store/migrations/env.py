"""Alembic environment: always run from code with a connection handed in.

``responsemaster.store.migrate.upgrade_to_head`` passes its connection through
``config.attributes``; the command-line ``alembic`` tool is not used, so there
is no alembic.ini and no URL here.
"""

from __future__ import annotations

from alembic import context

from responsemaster.store.models import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached by a misuse
    raise RuntimeError("run migrations through responsemaster.store.migrate.upgrade_to_head(engine)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
context.run_migrations()
