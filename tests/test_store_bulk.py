"""store.bulk: many rows per statement, from a bounded set of SQL texts (issue 11: memory flat).

Every distinct SQL text is a prepared statement the driver keeps per
connection; a multi-row INSERT of a few hundred rows costs SQLite half a
megabyte. A text per batch size grew the fuzz run's worker by over 100 MB,
so the row counts of these statements must come from a fixed set.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures.store_backends import db_url, store  # noqa: F401 - fixtures
from sqlalchemy import Column, Integer, MetaData, String, Table, event, select

from responsemaster.store import Store
from responsemaster.store.bulk import insert_rows, statement_sizes


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
    texts: set[str] = set()

    def seen(_conn, _cursor, statement: str, *_args) -> None:  # type: ignore[no-untyped-def]
        if statement.startswith("INSERT"):
            texts.add(statement)

    event.listen(store.engine, "before_cursor_execute", seen)
    expected: dict[str, int] = {}
    with store.transaction() as session:
        conn = session.connection()
        for size in range(1, 151):
            rows = [{"name": f"b{size}-{i}", "n": i} for i in range(size)]
            returned = insert_rows(conn, table, rows, ("id", "name"))
            assert sorted(name for _, name in returned) == sorted(row["name"] for row in rows)
            expected.update({name: new_id for new_id, name in returned})
    event.remove(store.engine, "before_cursor_execute", seen)
    assert len(texts) <= 8  # 1, 2, 4 ... 128: one text per power of two
    with store.reader() as session:
        stored = dict(session.execute(select(table.c.name, table.c.id)).all())
    assert stored == expected and len(stored) == sum(range(1, 151))
