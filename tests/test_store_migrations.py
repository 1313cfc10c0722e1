"""Migrations: the migrated schema is the models' schema, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fixtures.store_backends import db_url  # noqa: F401 - fixture
from sqlalchemy import inspect, text

from responsemaster.store import make_engine, upgrade_to_head
from responsemaster.store.migrate import current_revision, head_revision
from responsemaster.store.models import metadata


def test_migrated_schema_equals_the_models(db_url: str) -> None:  # noqa: F811
    engine = make_engine(db_url)
    upgrade_to_head(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []
    assert current_revision(engine) == head_revision()
    assert set(inspect(engine).get_table_names()) >= set(metadata.tables)


def test_upgrade_is_idempotent_and_safe_when_started_at_once(db_url: str) -> None:  # noqa: F811
    errors: list[BaseException] = []

    def start() -> None:
        try:
            upgrade_to_head(make_engine(db_url))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    upgrade_to_head(make_engine(db_url))
    assert current_revision(make_engine(db_url)) == head_revision()


def test_sqlite_runs_in_wal_with_foreign_keys_and_busy_timeout(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 10_000


def test_postgres_url_without_driver_means_psycopg() -> None:
    from responsemaster.store.engine import normalize_url

    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"
