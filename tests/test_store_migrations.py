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


def test_0005_adds_the_recipient_command_and_keeps_older_rows(db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from alembic import command

    from responsemaster.ingest.source import RawMessage
    from responsemaster.store import Store
    from responsemaster.store.migrate import alembic_config
    from responsemaster.store.queries import iter_verdict_lines
    from responsemaster.store.recording import record_message
    from responsemaster.verdict import RecipientVerdict, Verdict

    engine = make_engine(db_url)
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0004_api_covering")
    with engine.begin() as conn:  # a verdict recorded before 0005, with the columns of then
        conn.execute(text("INSERT INTO raw_messages (uid, source, key, sha256, size, path, state, received_at) "
                          "VALUES ('u1', 's', 'k1', 'x', 1, 'p', 'processed', CURRENT_TIMESTAMP)"))
        conn.execute(text("INSERT INTO message_verdicts (message_id, category, reason, confidence, decided_by, subscriber, "
                          "subscriber_key, domain, campaign, via, forged_token, subject, sender, header_message_id, "
                          "suggested_address, feedback_type, reply_text, created_at) SELECT id, 'hard_bounce', "
                          "'userunknown', 1, 'old', '', '', '', '', 'dsn', false, '', '', '', '', '', '', CURRENT_TIMESTAMP "
                          "FROM raw_messages"))
        conn.execute(text("INSERT INTO recipient_verdicts (verdict_id, position, address, address_key, domain, category, "
                          "reason, status, reply_code, remote_mta, diagnostic, final_recipient, action, decided_by, "
                          "created_at) SELECT id, 0, 'a@x.org', 'a@x.org', 'x.org', 'hard_bounce', 'userunknown', '5.1.1', "
                          "'550', '', '', '', 'failed', 'old', CURRENT_TIMESTAMP FROM message_verdicts"))
    upgrade_to_head(engine)
    store = Store(engine, tmp_path / "var")
    rcpt = RecipientVerdict("b@y.org", "mail_block", "blocked", "5.7.1", "554", command="MAIL", action="failed",
                            decided_by="rule:blocked")
    with store.transaction() as session:
        record_message(session, RawMessage("s", "k2", b"raw"), Verdict("mail_block", 0.9, "rule:blocked", "blocked",
                                                                       recipients=[rcpt]), "p2")
    with store.reader() as session:
        lines = {line["key"]: line["recipient"] for line in iter_verdict_lines(session)}
    assert (lines["k1"]["command"], lines["k1"]["action"], lines["k1"]["decided_by"]) == ("", "failed", "old")
    assert (lines["k2"]["command"], lines["k2"]["action"], lines["k2"]["decided_by"]) == ("MAIL", "failed", "rule:blocked")
    engine.dispose()
