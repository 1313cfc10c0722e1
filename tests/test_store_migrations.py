"""Migrations: the migrated schema is the models' schema, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fixtures.store_backends import db_url, errors_when_started_together  # noqa: F401 - fixture
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
    assert errors_when_started_together(lambda: upgrade_to_head(make_engine(db_url)), 4) == []
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


def _counts(engine) -> tuple[dict, dict]:  # type: ignore[no-untyped-def,type-arg]
    """(the per-day counts table, the same counts computed from message_verdicts)."""
    from collections import Counter
    from datetime import UTC, datetime

    with engine.connect() as conn:
        table = {tuple(r[:5]): r[5] for r in conn.execute(text(
            "SELECT dimension, value, day, category, reason, n FROM verdict_day_counts"))}
        computed: Counter = Counter()  # type: ignore[type-arg]
        for domain, campaign, created, category, reason in conn.execute(text(
                "SELECT domain, campaign, created_at, category, reason FROM message_verdicts WHERE error IS NULL")):
            day = created.astimezone(UTC).date().isoformat() if isinstance(created, datetime) else str(created)[:10]
            for dim, value in (("all", ""), ("domain", domain), ("campaign", campaign)):
                computed[dim, value, day, category, reason] += 1
    return table, dict(computed)


def test_0007_counts_a_batch_with_one_statement_and_counts_the_same(db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from alembic import command

    from responsemaster.ingest.source import RawMessage
    from responsemaster.store import Store
    from responsemaster.store.migrate import alembic_config
    from responsemaster.store.recording import ToRecord, record_message, record_messages
    from responsemaster.verdict import Attribution, Verdict

    def verdict(n: int, error: str | None = None) -> Verdict:
        return Verdict(("hard_bounce", "mail_block")[n % 2], 0.9, "t", ("userunknown", "blocked")[n % 2],
                       sender=f"a{n}@d{n % 3}.org", attribution=Attribution(campaign=f"c{n % 2}"), error=error)

    engine = make_engine(db_url)
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0006_api_sessions")
    store = Store(engine, tmp_path / "var")
    with store.transaction() as s:  # counted by the row trigger of 0003
        record_message(s, RawMessage("s", "k0", b"0"), verdict(0), "p")
    upgrade_to_head(engine)
    with store.transaction() as s:  # one message: the statement trigger (PostgreSQL) or the row trigger (SQLite)
        record_message(s, RawMessage("s", "k1", b"1"), verdict(1), "p")
    with store.transaction() as s:  # a batch: one INSERT, counted once (an error verdict is not counted)
        record_messages(s, [ToRecord(RawMessage("s", f"k{n}", b"%d" % n), verdict(n, "bad" if n == 5 else None), "p")
                            for n in range(2, 9)])
    table, computed = _counts(engine)
    assert sum(n for key, n in table.items() if key[0] == "all") == 8
    assert table == computed
    with engine.connect() as conn:  # the pause row of SQLite's bulk path never outlives its transaction
        assert conn.execute(text("SELECT count(*) FROM verdict_day_counts WHERE dimension NOT IN "
                                 "('all', 'domain', 'campaign')")).scalar_one() == 0
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0006_api_sessions")
    with store.transaction() as s:  # the row trigger of 0003 again
        record_message(s, RawMessage("s", "k9", b"9"), verdict(9), "p")
    table, computed = _counts(engine)
    assert table == computed
    engine.dispose()


def test_no_index_of_the_drain_tables_is_the_start_of_another() -> None:
    """Every row a worker records goes into each index of these tables (migration 0011 dropped two).

    An index whose columns begin another index or unique constraint serves
    no look-up the longer one does not, and costs a B-tree insert per row.
    """
    from sqlalchemy import UniqueConstraint

    for name in ("raw_messages", "message_verdicts", "recipient_verdicts", "actions", "message_claims"):
        table = metadata.tables[name]
        keys = [tuple(c.name for c in index.columns) for index in table.indexes]
        keys += [tuple(c.name for c in u.columns) for u in table.constraints if isinstance(u, UniqueConstraint)]
        keys += [(c.name,) for c in table.columns if c.unique]
        plain = [tuple(c.name for c in index.columns) for index in table.indexes if not index.unique]
        for short in plain:
            longer = [key for key in keys if len(key) > len(short) and key[:len(short)] == short]
            assert not longer, f"{name}: index on {short} begins {longer}"
