"""store.bulk: many rows per statement, from a bounded set of SQL texts (issue 11: memory flat).

Every distinct SQL text is a prepared statement the driver keeps per
connection; a multi-row INSERT of a few hundred rows costs SQLite half a
megabyte. A text per batch size grew the fuzz run's worker by over 100 MB,
so the row counts of these statements must come from a fixed set.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fixtures.store_backends import db_url, store  # noqa: F401 - fixtures
from sqlalchemy import Column, Integer, MetaData, String, Table, event, select

from responsemaster.store import Store
from responsemaster.store.bulk import in_list, insert_rows, statement_sizes


@contextmanager
def executed(store: Store) -> Iterator[list[tuple[str, Any]]]:  # noqa: F811
    """Every (statement, parameters) the store's engine runs inside the block, in order."""
    seen: list[tuple[str, Any]] = []

    def note(_conn, _cursor, statement: str, parameters, *_args) -> None:  # type: ignore[no-untyped-def]
        seen.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", note)


@pytest.mark.parametrize("most", [1, 2, 7, 64, 1000, 2000])
def test_statement_sizes_cover_the_rows_with_few_distinct_sizes(most: int) -> None:
    seen: set[int] = set()
    for rows in range(0, 2_100):
        sizes = statement_sizes(rows, most)
        assert sum(sizes) == rows
        assert all(size <= most and size & (size - 1) == 0 for size in sizes)
        assert sizes == sorted(sizes, reverse=True)
        biggest = 1 << (most.bit_length() - 1)
        assert len(sizes) <= rows // biggest + biggest.bit_length() - 1  # the biggest, then a binary digit each
        seen.update(sizes)
    assert len(seen) <= most.bit_length()


def test_statement_sizes_put_a_full_batch_in_few_statements() -> None:
    assert statement_sizes(500, 2_000) == [256, 128, 64, 32, 16, 4]
    assert statement_sizes(4_100, 2_000) == [1024] * 4 + [4]
    assert statement_sizes(1, 2_000) == [1] and statement_sizes(0, 2_000) == []


def test_bulk_inserts_of_many_sizes_use_a_bounded_set_of_sql_texts(store: Store, tmp_path: Path) -> None:  # noqa: F811
    """Batches of 1 to 150 rows: every row in, every id back, and at most 8 INSERT texts (not 150)."""
    table = Table("bulk_probe", MetaData(), Column("id", Integer, primary_key=True), Column("name", String(40)),
                  Column("n", Integer))
    table.create(store.engine)
    expected: dict[str, int] = {}
    with executed(store) as statements, store.transaction() as session:
        conn = session.connection()
        for size in range(1, 151):
            rows = [{"name": f"b{size}-{i}", "n": i} for i in range(size)]
            returned = insert_rows(conn, table, rows, ("id", "name"))
            assert sorted(name for _, name in returned) == sorted(row["name"] for row in rows)
            expected.update({name: new_id for new_id, name in returned})
    texts = {text for text, _ in statements if text.startswith("INSERT")}
    assert len(texts) <= 8  # 1, 2, 4 ... 128: one text per power of two
    with store.reader() as session:
        stored = dict(session.execute(select(table.c.name, table.c.id)).all())
    assert stored == expected and len(stored) == sum(range(1, 151))


def test_bulk_inserts_keep_every_value_as_it_was_given(store: Store) -> None:  # noqa: F811
    """Text with quotes, braces, backslashes and accents, NULLs (a column of only NULLs too), numbers,
    booleans and UTC timestamps come back as they went in, with and without RETURNING."""
    from datetime import UTC, datetime

    from sqlalchemy import Boolean, Float, Text

    from responsemaster.store.base import UTCDateTime

    table = Table("bulk_values", MetaData(), Column("id", Integer, primary_key=True), Column("name", String(40)),
                  Column("note", Text), Column("score", Float), Column("flag", Boolean), Column("big", Integer),
                  Column("at", UTCDateTime))
    table.create(store.engine)
    at = datetime(2026, 12, 4, 15, 30, 1, 123456, tzinfo=UTC)
    rows = [
        {"name": 'q\'"{a,b}\\ NULL', "note": None, "score": 0.25, "flag": True, "big": 2**31 - 1, "at": at},
        {"name": "Grüße, 東京", "note": None, "score": None, "flag": False, "big": -7, "at": None},
        {"name": None, "note": None, "score": -1e300, "flag": None, "big": None, "at": at},
    ]
    with store.transaction() as session:
        returned = insert_rows(session.connection(), table, rows, ("id", "big"))
        insert_rows(session.connection(), table, rows)
    assert sorted(big for _, big in returned if big is not None) == [-7, 2**31 - 1]
    with store.reader() as session:
        stored = session.execute(select(table).order_by(table.c.id)).mappings().all()
    assert [{k: v for k, v in row.items() if k != "id"} for row in stored] == rows + rows


def test_bulk_inserts_with_on_conflict_update_only_where_the_clause_allows(store: Store) -> None:  # noqa: F811
    """The claims' form: a conflicting row updates the existing one when the clause's condition holds
    (compared with an ``extra`` timestamp), is left alone when it does not, and a new key is inserted;
    with RETURNING, only the rows inserted or updated come back."""
    from datetime import UTC, datetime, timedelta

    from responsemaster.store.base import UTCDateTime

    table = Table("bulk_leases", MetaData(), Column("name", String(40), primary_key=True), Column("owner", String(40)),
                  Column("until", UTCDateTime), Column("tries", Integer))
    table.create(store.engine)
    now = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
    clause = ("ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, tries = bulk_leases.tries + 1 "
              "WHERE bulk_leases.until < {}")
    first = [{"name": "expired", "owner": "a", "until": now - timedelta(seconds=1), "tries": 1},
             {"name": "live", "owner": "a", "until": now + timedelta(seconds=1), "tries": 1}]
    second = [{"name": n, "owner": "b", "until": now + timedelta(minutes=5), "tries": 1} for n in ("expired", "live", "new")]
    with store.transaction() as session:
        insert_rows(session.connection(), table, first, on_conflict=clause, extra=(now,))
        insert_rows(session.connection(), table, second, on_conflict=clause, extra=(now,))
    with store.reader() as session:
        stored = {row.name: (row.owner, row.tries) for row in session.execute(select(table))}
    assert stored == {"expired": ("b", 2), "live": ("a", 1), "new": ("b", 1)}
    third = [{"name": n, "owner": "c", "until": now + timedelta(minutes=9), "tries": 1} for n in ("live", "new", "newer")]
    later = now + timedelta(minutes=2)  # "live" has run out by then, "new" has not
    with store.transaction() as session:
        returned = insert_rows(session.connection(), table, third, ("name", "tries"), on_conflict=clause, extra=(later,))
    assert sorted(returned) == [("live", 2), ("newer", 1)]  # taken over or inserted; "new" left alone, not returned


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_value_too_long_for_its_column_is_refused_on_postgresql(db_url: str, store: Store) -> None:  # noqa: F811
    """The PostgreSQL form casts each column's array to its type: without the length, so a value over
    VARCHAR(n) is an error, as in a VALUES row, never cut short (SQLite keeps no lengths)."""
    from sqlalchemy.exc import DataError

    table = Table("bulk_long", MetaData(), Column("id", Integer, primary_key=True), Column("name", String(5)))
    table.create(store.engine)
    for returning in ((), ("id",)):
        with pytest.raises(DataError, match="too long"), store.transaction() as session:
            insert_rows(session.connection(), table, [{"name": "abcde"}, {"name": "abcdef"}], returning)
    with store.reader() as session:
        assert session.execute(select(table.c.name)).all() == []


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgresql_bulk_inserts_are_one_short_statement_per_call(db_url: str, store: Store) -> None:  # noqa: F811
    """One array parameter per column: a text psycopg rewrites once and remembers (it remembers only
    statements under 4 KB with at most 50 parameters; a multi-row VALUES was parsed on every call)."""
    table = Table("bulk_short", MetaData(), Column("id", Integer, primary_key=True), Column("name", String(40)))
    table.create(store.engine)
    with executed(store) as statements, store.transaction() as session:
        for size in (1, 37, 500):
            insert_rows(session.connection(), table, [{"name": f"n{size}-{i}"} for i in range(size)], ("id",))
            insert_rows(session.connection(), table, [{"name": f"m{size}-{i}"} for i in range(size)])
    calls = [(text, parameters) for text, parameters in statements if text.startswith("INSERT")]
    assert len(calls) == 6  # one statement per call, whatever the number of rows
    assert all(len(text) < 4096 and len(parameters) == 1 for text, parameters in calls)  # type: ignore[arg-type]
    with store.reader() as session:
        assert len(session.execute(select(table.c.id)).all()) == 2 * (1 + 37 + 500)


def test_in_list_pads_to_a_power_of_two_with_the_last_value() -> None:
    assert in_list([]) == [] and in_list(["a"]) == ["a"] and in_list(["a", "b"]) == ["a", "b"]
    assert in_list(["a", "b", "c"]) == ["a", "b", "c", "c"]
    for n in range(1, 1_100):
        padded = in_list(list(range(n)))
        assert padded[:n] == list(range(n)) and set(padded) == set(range(n))
        assert len(padded) & (len(padded) - 1) == 0 and len(padded) < 2 * n


def test_the_worker_look_ups_of_many_batch_sizes_use_a_bounded_set_of_sql_texts(store: Store) -> None:  # noqa: F811
    """Batches of 1 to 150: already-recorded and subscribers one text each, claims a text per power of two
    (their RETURNING reads them back), the counts no list at all.

    An ``IN (...)`` list is written out with a placeholder per value, so each
    list length was one more prepared statement kept by the driver (about
    135 KB of SQLite heap for a few hundred values).
    """
    from responsemaster.ingest.source import RawMessage
    from responsemaster.routing.context import preload_subscribers
    from responsemaster.store.claims import claim
    from responsemaster.store.base import utcnow
    from responsemaster.store.hygiene_counts import BulkCount
    from responsemaster.store.recording import find_recorded_many

    with executed(store) as statements:
        for size in range(1, 151):
            with store.transaction() as session:
                messages = [RawMessage("probe", f"k{size}-{i}", f"m{size}-{i}".encode()) for i in range(size)]
                assert find_recorded_many(session, "probe", messages) == {}
                assert set(claim(session, "probe", [m.key for m in messages], "me", 60)) == {m.key for m in messages}
                preload_subscribers(session, [f"a{size}-{i}@example.com" for i in range(size)])
                counts = BulkCount(session.connection())
                counts.pause()
                counts.count([{"error": None, "created_at": utcnow(), "category": "hard_bounce", "reason": "r",
                               "domain": f"d{i}.org", "campaign": ""} for i in range(size)])
    texts = {text for text, _ in statements if " IN (" in text or " = ANY " in text}
    one_parameter = {text for text in texts if "json_each" in text or " = ANY " in text}
    assert len(one_parameter) == 2  # already-recorded, subscribers: one text each
    assert texts == one_parameter  # the counts: summed in Python, no list of the batch's ids
    claims = {text for text, _ in statements if text.startswith("INSERT INTO message_claims")}
    assert 1 <= len(claims) <= 8  # 1 to 150 rows: multi-row VALUES of 1, 2, 4 ... 128 rows (PostgreSQL: one)


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_the_worker_look_ups_find_exactly_what_is_there(db_url: str, store: Store) -> None:  # noqa: F811
    """Already-recorded, claims and subscribers of a 300-message batch: the rows there, no others (the
    claims' own statement returns the leases it took).

    Each look-up takes its values as one parameter (an array on PostgreSQL,
    JSON on SQLite), never a placeholder per value: psycopg parses a
    statement with more than 50 parameters again on every call, and
    SQLAlchemy writes a list's placeholders into the statement every time.
    """
    from responsemaster.ingest.source import RawMessage
    from responsemaster.routing.context import _CACHE, preload_subscribers
    from responsemaster.store.base import utcnow
    from responsemaster.store.claims import claim
    from responsemaster.store.messages import RawMessageRow
    from responsemaster.store.recording import find_recorded_many
    from responsemaster.store.subscribers import Subscriber

    messages = [RawMessage("probe", f"key-{i}", f"bytes {i}".encode()) for i in range(300)]
    addresses = [f"person{i}@example.com" for i in range(300)]
    with store.transaction() as session:
        for m in messages[::3]:  # every third recorded: by key for the even ones, by bytes for the odd
            key = m.key if int(m.key[4:]) % 2 == 0 else "another-key-" + m.key
            session.add(RawMessageRow(uid=key[-40:], source="probe", key=key, sha256=m.sha256, received_at=utcnow()))
        for address in addresses[::5]:
            session.add(Subscriber(address=address, address_key=address, domain="example.com"))
    with executed(store) as statements, store.transaction() as session:
        assert set(find_recorded_many(session, "probe", messages)) == {m.key for m in messages[::3]}
        assert set(claim(session, "probe", [m.key for m in messages[:200]], "me", 60)) == {m.key for m in messages[:200]}
        assert set(claim(session, "probe", [m.key for m in messages], "other", 60)) == {m.key for m in messages[200:]}
        preload_subscribers(session, addresses)
        cache = session.info[_CACHE]
        assert {key for key, sub in cache.items() if sub is not None} == set(addresses[::5])
        assert len(cache) == len(addresses)
    selects = [(text, parameters) for text, parameters in statements if text.startswith("SELECT")]
    assert len(selects) == 2  # already-recorded, subscribers
    one_parameter = " = ANY " if db_url.startswith("postgresql") else "json_each"
    assert all(one_parameter in text and len(parameters) <= 4 for text, parameters in selects)  # type: ignore[arg-type]


def test_the_look_up_by_bytes_only_finds_the_same_bytes_under_any_key_and_nothing_by_key_alone(store: Store) -> None:  # noqa: F811
    from responsemaster.ingest.source import RawMessage
    from responsemaster.store.base import utcnow
    from responsemaster.store.messages import RawMessageRow
    from responsemaster.store.recording import find_recorded_many

    same_key = RawMessage("probe", "k-1", b"new bytes under a recorded key")
    same_bytes = RawMessage("probe", "k-2", b"bytes recorded under another key")
    with store.transaction() as session:
        session.add(RawMessageRow(uid="u1", source="probe", key="k-1", sha256="0" * 64, received_at=utcnow()))
        session.add(RawMessageRow(uid="u2", source="probe", key="k-9", sha256=same_bytes.sha256, received_at=utcnow()))
    with store.reader() as session:
        assert set(find_recorded_many(session, "probe", [same_key, same_bytes])) == {"k-1", "k-2"}
        assert set(find_recorded_many(session, "probe", [same_key, same_bytes], by_key=False)) == {"k-2"}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the plans checked are SQLite's
def test_the_already_recorded_look_ups_read_by_key_and_by_hash_not_the_whole_source(db_url: str, store: Store) -> None:  # noqa: F811
    """SQLite's plan for each look-up of raw_messages goes through (source, key) or (source, sha256).

    ``source = ? AND (key ... OR sha256 ...)`` was read through the index on
    source alone: every row of the source for every batch, the drain slowing
    down as the table grew (0.014 ms a message at 10,000 rows, 0.29 at 300,000).
    """
    import sqlite3

    from responsemaster.ingest.source import RawMessage
    from responsemaster.store.recording import find_recorded, find_recorded_many

    with executed(store) as seen, store.transaction() as session:
        messages = [RawMessage("probe", f"key-{i}", f"bytes {i}".encode()) for i in range(20)]
        assert find_recorded_many(session, "probe", messages) == {}
        assert find_recorded(session, "probe", "key-1", messages[1].sha256) is None
    statements = [(text, parameters) for text, parameters in seen if "FROM raw_messages" in text]
    assert len(statements) == 3
    database = store.engine.url.database
    assert database
    with sqlite3.connect(database) as conn:
        for statement, parameters in statements:
            plan = [row[-1] for row in conn.execute("EXPLAIN QUERY PLAN " + statement, parameters)]
            searches = [step for step in plan if "raw_messages" in step]
            assert searches and all("key=?" in step or "sha256=?" in step for step in searches), (statement, plan)
