"""The store on SQLite and PostgreSQL: uniqueness, foreign keys, claims, queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fixtures.store_backends import db_url, store  # noqa: F401 - fixtures
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from responsemaster.ingest.source import RawMessage
from responsemaster.store import Store, claims, message_uid
from responsemaster.store.actions import MessageClaim, SourceState
from responsemaster.store.base import address_key, clip, utcnow
from responsemaster.store.messages import MessageVerdict, RawMessageRow, RecipientVerdictRow
from responsemaster.store.queries import iter_verdict_lines, source_counts
from responsemaster.store.recording import find_recorded, record_message
from responsemaster.store.subscribers import Subscriber
from responsemaster.verdict import Attribution, RecipientVerdict, Verdict


def _bounce(address: str = "Jane@Example.org") -> Verdict:
    return Verdict(
        "hard_bounce", 0.99, "rfc3464", "userunknown",
        recipients=[RecipientVerdict(address, "hard_bounce", "userunknown", "5.1.1", "550", "mx.example.org",
                                     "550 5.1.1 no such user\x00", final_recipient="j@forward.example")],
        attribution=Attribution(address, "spring", "dsn"),
        subject="Undelivered Mail Returned to Sender",
        sender="MAILER-DAEMON@example.org",
    )


def test_subscriber_address_is_unique_case_insensitively(store: Store) -> None:  # noqa: F811
    with store.transaction() as s:
        s.add(Subscriber(address="Jane@Example.org", address_key=address_key("Jane@Example.org")))
    with pytest.raises(IntegrityError), store.transaction() as s:
        s.add(Subscriber(address="jane@EXAMPLE.org", address_key=address_key("jane@EXAMPLE.org")))
    with store.reader() as s:
        rows = s.execute(select(Subscriber)).scalars().all()
    assert [r.address for r in rows] == ["Jane@Example.org"]
    assert rows[0].created_at.tzinfo is not None


def test_raw_message_is_unique_per_source_and_key(store: Store) -> None:  # noqa: F811
    msg = RawMessage("returns", "k1", b"Subject: x\n\nbody\n")
    with store.transaction() as s:
        record_message(s, msg, _bounce(), "messages/aa/x.eml")
    with pytest.raises(IntegrityError), store.transaction() as s:
        record_message(s, msg, _bounce(), "messages/aa/x.eml")
    with store.transaction() as s:  # same key in another source is another message
        record_message(s, RawMessage("other", "k1", msg.raw), _bounce(), "messages/aa/x.eml")
    with store.reader() as s:
        assert find_recorded(s, "returns", "k1", "nope") is not None
        assert find_recorded(s, "returns", "k2", msg.sha256) is not None  # same bytes, same source
        assert find_recorded(s, "third", "k1", msg.sha256) is None


def test_verdict_rows_keep_every_field_and_strip_nul(store: Store) -> None:  # noqa: F811
    msg = RawMessage("returns", "k1", b"Subject: x\n\nbody\n")
    with store.transaction() as s:
        row, _verdict = record_message(s, msg, _bounce(), "messages/aa/x.eml")
    with store.reader() as s:
        v = s.execute(select(MessageVerdict)).scalars().one()
        r = s.execute(select(RecipientVerdictRow)).scalars().one()
        m = s.get(RawMessageRow, row.id)
    assert m is not None and m.uid == message_uid("returns", "k1") and m.sha256 == msg.sha256
    assert (v.category, v.reason, v.decided_by, v.via, v.domain) == ("hard_bounce", "userunknown", "rfc3464", "dsn", "example.org")
    assert v.subscriber_key == "jane@example.org"
    assert (r.address_key, r.status, r.reply_code, r.final_recipient) == ("jane@example.org", "5.1.1", "550", "j@forward.example")
    assert r.diagnostic == "550 5.1.1 no such user"


def test_foreign_keys_are_enforced(store: Store) -> None:  # noqa: F811
    with pytest.raises(IntegrityError), store.transaction() as s:
        s.add(MessageVerdict(message_id=424242, category="user_reply"))


def test_claims_lease_attempts_and_expiry(store: Store) -> None:  # noqa: F811
    with store.transaction() as s:
        assert claims.claim(s, "returns", ["a", "b"], "w1", 60) == {"a": 1, "b": 1}
    with store.transaction() as s:
        assert claims.claim(s, "returns", ["a", "c"], "w2", 60) == {"c": 1}
    with store.transaction() as s:  # a key named twice in one call is one claim, one attempt
        assert claims.claim(s, "returns", ["d", "d"], "w2", 60) == {"d": 1}
    with store.transaction() as s:  # w1 renews its own lease
        assert claims.claim(s, "returns", ["a"], "w1", 60) == {"a": 2}
    with store.transaction() as s:  # w1 dies: its lease runs out
        s.get(MessageClaim, ("returns", "a")).lease_until = utcnow() - timedelta(seconds=1)  # type: ignore[union-attr]
    with store.transaction() as s:
        assert claims.claim(s, "returns", ["a"], "w2", 60) == {"a": 3}
    with store.transaction() as s:
        claims.release(s, "returns", "a", "w2", "boom")
        claims.note_error(s, "returns", "a: boom")
    with store.reader() as s:
        assert s.get(SourceState, "returns").last_error == "a: boom"  # type: ignore[union-attr]


def test_status_counts_and_export_lines(store: Store) -> None:  # noqa: F811
    with store.transaction() as s:
        record_message(s, RawMessage("returns", "k1", b"a"), _bounce(), "p")
        record_message(s, RawMessage("returns", "k2", b"b"), Verdict("user_reply", 0.5, "model:x", "reply", sender="a@b.c"), "p")
        record_message(s, RawMessage("returns", "k3", b""), Verdict("user_reply", 0, "error", error="empty"), "p", "empty")
    with store.reader() as s:
        counts = source_counts(s)
        lines = list(iter_verdict_lines(s, chunk=2))
    assert counts["returns"]["processed"] == 2 and counts["returns"]["quarantined"] == 1
    assert [line["id"] for line in lines] == [message_uid("returns", k) for k in ("k1", "k2", "k3")]
    assert lines[0]["recipient"]["address"] == "Jane@Example.org" and lines[1]["recipient"] is None
    assert lines[2]["error"] == "empty" and lines[2]["state"] == "quarantined"


def test_clip_makes_text_safe_for_postgres() -> None:
    assert clip("a\x00b\udcff", 10) == "ab?"
    assert clip(None) == ""


def test_kept_copies_link_a_durable_source_file_or_are_written(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import hashlib
    import os

    from responsemaster.store import rawfiles

    files = rawfiles.RawFiles(tmp_path / "var" / "messages")
    claimed = tmp_path / "box" / "rm-claimed" / "1.M1P1.test"
    claimed.parent.mkdir(parents=True)
    claimed.write_bytes(b"Subject: one\n\nbody\n")
    synced: list[str] = []
    monkeypatch.setattr(rawfiles, "_fsync", lambda path: synced.append(str(path)))
    linked = files.keep(claimed.read_bytes(), link_from=str(claimed))
    written = files.keep(b"Subject: two\n\nbody\n", link_from=str(tmp_path / "gone"))  # the claim moved away: a copy
    files.sync()
    kept = files.root.parent / linked
    assert os.stat(kept).st_ino == os.stat(claimed).st_ino and kept.read_bytes() == claimed.read_bytes()
    assert files.read(written) == b"Subject: two\n\nbody\n"
    assert os.stat(files.root.parent / written).st_ino != os.stat(claimed).st_ino
    # The written copy and every directory named are fsynced; the link's bytes were already durable.
    assert str(files.root.parent / written) in synced and str(kept) not in synced
    assert {str(kept.parent), str((files.root.parent / written).parent), str(files.root)} <= set(synced)
    assert linked == f"messages/{hashlib.sha256(claimed.read_bytes()).hexdigest()[:1]}/{kept.name}"


def test_a_batch_of_kept_copies_syncs_at_most_seventeen_folders(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Each folder a batch touches costs a directory fsync: 500 messages must not touch hundreds."""
    import os

    from responsemaster.store import rawfiles

    files = rawfiles.RawFiles(tmp_path / "var" / "messages")
    synced: list[str] = []
    monkeypatch.setattr(rawfiles, "_fsync", lambda path: synced.append(str(path)))
    kept = [files.keep(f"Subject: {n}\n\nbody {n}\n".encode()) for n in range(500)]
    files.sync()
    folders = [path for path in synced if os.path.isdir(path)]
    assert len(folders) == len(set(folders)) <= 17  # the sixteen fan-out folders and messages/ itself
    assert len(synced) - len(folders) == 500  # every written copy is fsynced
    assert len({kept_path.split("/")[1] for kept_path in kept}) == 16


def test_a_kept_copys_folder_removed_under_the_writer_is_made_again(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A clean-up of old kept files may remove their folders; the next message with that prefix is still kept."""
    import shutil

    from responsemaster.store import rawfiles

    files = rawfiles.RawFiles(tmp_path / "var" / "messages")
    first = files.keep(b"Subject: one\n\nbody\n")
    shutil.rmtree(files.root)
    again = files.keep(b"Subject: one\n\nbody\n")  # same bytes, same folder, now gone
    files.sync()
    assert again == first and files.read(again) == b"Subject: one\n\nbody\n"


def test_rows_written_in_bulk_read_back_as_the_orm_writes_them(store: Store, monkeypatch) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """store.bulk hands values to the driver itself: timestamps must come out as SQLAlchemy's own."""
    from datetime import UTC, datetime

    from sqlalchemy import text

    from responsemaster.store import recording
    from responsemaster.store.recording import ToRecord, record_messages

    moment = datetime(2026, 12, 4, 6, 40, 0, 0, tzinfo=UTC)  # no microseconds: the format must still carry them
    monkeypatch.setattr(recording, "utcnow", lambda: moment)
    items = [ToRecord(RawMessage("returns", f"k{n}", b"%d" % n), _bounce(), "p") for n in range(3)]
    with store.transaction() as s:
        record_messages(s, items)
        s.add(Subscriber(address="a@b.c", address_key="a@b.c", created_at=moment, updated_at=moment))
    with store.reader() as s:
        rows = s.execute(select(RawMessageRow)).scalars().all()
        verdicts = s.execute(select(MessageVerdict)).scalars().all()
        stored = s.execute(text("SELECT received_at FROM raw_messages")).scalars().all()
        orm_stored = s.execute(text("SELECT created_at FROM subscribers")).scalar_one()
    assert [r.received_at for r in rows] == [moment] * 3 and [v.created_at for v in verdicts] == [moment] * 3
    assert [r.key for r in rows] == ["k0", "k1", "k2"] and [v.message_id for v in verdicts] == [r.id for r in rows]
    assert stored == [orm_stored] * 3  # the very text (SQLite) or value (PostgreSQL) the ORM stores
    assert [v.forged_token for v in verdicts] == [False] * 3 and verdicts[0].confidence == _bounce().confidence


def test_connections_opening_a_new_sqlite_file_together_all_get_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The first connection switches a new file to WAL; meanwhile SQLite refused the others' switch at once
    ("database is locked", no busy timeout): 1 start in 10 of 8 connections failed so."""
    from fixtures.store_backends import errors_when_started_together

    from responsemaster.store import make_engine

    def connect(url: str) -> None:
        with make_engine(url).connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"

    for attempt in range(150):
        url = f"sqlite:///{tmp_path / f'new{attempt}.db'}"
        errors = errors_when_started_together(lambda: connect(url), 8)  # noqa: B023 - joined before the next url
        assert errors == [], f"new file {attempt}: {errors[0]!r}"


def test_sqlite_connections_get_the_configured_page_cache(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """32 MiB by default (SQLite's own 2 MiB reread index pages on every insert once tables grew, and a
    worker batch's changed pages must fit),
    ``[database] sqlite_cache_mb`` otherwise; a value below 1 is a clear error. And the log is
    checkpointed every WAL_CHECKPOINT_PAGES pages, not SQLite's 1,000 (nearly every worker commit)."""
    from sqlalchemy import text

    from responsemaster.config import SettingError, load_settings
    from responsemaster.store.engine import WAL_CHECKPOINT_PAGES, make_engine

    monkeypatch.delenv("RESPONSEMASTER_DATABASE_URL", raising=False)
    for extra, expected in (("", -32 * 1024), ("sqlite_cache_mb = 64\n", -64 * 1024)):
        config = tmp_path / f"rm{len(extra)}.toml"
        config.write_text(f'[database]\nurl = "sqlite:///{tmp_path}/c{len(extra)}.db"\n{extra}', "utf-8")
        engine = make_engine(load_settings(config))
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA cache_size")).scalar() == expected
            assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar() == WAL_CHECKPOINT_PAGES
        engine.dispose()
    config = tmp_path / "bad.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path}/bad.db"\nsqlite_cache_mb = 0\n', "utf-8")
    with pytest.raises(SettingError, match="sqlite_cache_mb"):
        make_engine(load_settings(config))
