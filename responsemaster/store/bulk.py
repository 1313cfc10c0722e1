"""Many rows into one table with one driver call: what the worker writes per batch.

Why not ``connection.execute(table.insert(), rows)``: SQLAlchemy runs every
value of every row through its bind processors and parameter assembly in
Python, which cost more than SQLite spends storing the row (measured on the
worker: about 0.1 ms of the 0.26 ms a message's recording took). Here the
statement is written once per table, dialect and column list (names quoted
by the dialect), the values are handed to the driver as they are, and the
one type that needs converting, the UTC timestamps, is converted once per
distinct value (a batch's rows share one ``now``). Every other value of
these tables (text, integers, floats, booleans, NULL) is passed unchanged,
which is what SQLAlchemy does for them on SQLite and PostgreSQL too.

Multi-row statements (``VALUES (...), (...) RETURNING``) hold only a fixed
set of row counts, powers of two (:func:`statement_sizes`): a batch of 437
new rows goes as 256 + 128 + 32 + 16 + 4 + 1. Each distinct SQL text is a
prepared statement the driver keeps per connection (sqlite3 up to 128,
psycopg up to 100 server-side), and one of a few hundred rows costs SQLite
half a megabyte or more: with a text per batch size, batches thinned by
duplicates and quarantined messages filled that cache with a hundred such
texts, and the worker grew by over 100 MB (issue 11's fuzz run). With
powers of two a table has at most a dozen texts, and a repeated size finds
its statement already prepared.

The same holds for an ``IN (...)`` list, which SQLAlchemy writes out with
one placeholder per value: a statement per list length, about 135 KB of
SQLite heap each for two lists of a few hundred values (they kept the
statement cache filling: SQLite's heap crept from 6 to 10 MB over 24,000
fuzz messages). The worker's look-ups per batch take their values as one
parameter instead (:func:`member_of`: a JSON array on SQLite, an array on
PostgreSQL), one text each; where a list stays, :func:`in_list` pads it to
a power of two (repeating its last value, which changes no result).

PostgreSQL takes another form: ``INSERT ... SELECT * FROM unnest(%b::type[], ...)``,
one array parameter per column, in the binary format (:func:`_insert_unnest`). psycopg rewrites a
statement's ``%s`` placeholders into ``$n`` in Python, and remembers the
result only for statements under 4 KB with at most 50 parameters: a
multi-row ``VALUES`` of a few hundred rows was parsed again on every call,
and with the per-row ``executemany`` of the tables without ``RETURNING`` it
was about a third of the worker's own CPU on PostgreSQL (issue 13). With one
parameter per column the text is short, fixed per table and column list,
and read once. For the same reason a look-up of many values is
``column = ANY(%s::type[])`` there (:func:`member_of`), not an ``IN`` list.
"""

from __future__ import annotations

import json
import operator
import re
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import chain
from typing import Any, TypeVar

from sqlalchemy import ARRAY, Connection, String, Table, any_, bindparam, func, literal_column, select

from responsemaster.store.base import UTCDateTime

_T = TypeVar("_T")

#: A type's length or precision, ``(64)`` in ``VARCHAR(64)``: left out of the array casts.
_LENGTH = re.compile(r"\(\d+(?:,\s*\d+)?\)")
#: Bound parameters per multi-row statement (SQLite's form), under SQLite's limit (32,766).
MAX_PARAMETERS = 30_000


def insert_rows(
    conn: Connection, table: Table, rows: list[dict[str, Any]], returning: tuple[str, ...] = (),
    on_conflict: str = "", extra: tuple[Any, ...] = (),
) -> list[tuple]:
    """Insert ``rows`` (dicts with the same keys) into ``table``; the ``returning`` columns of each new row.

    PostgreSQL: one ``unnest`` statement (:func:`_insert_unnest`). SQLite:
    without ``returning`` one executemany; with it, multi-row ``VALUES``
    statements ``... RETURNING`` (one for up to :data:`MAX_PARAMETERS`
    values). The result rows come back in no promised order: match them by
    a unique column you ask for.

    ``on_conflict``: an ``ON CONFLICT ...`` clause (both backends take the
    same one), with a ``{}`` where each of the ``extra`` values goes
    (timestamps converted as the rows' are). With ``returning`` too, the rows
    returned are those inserted or updated, not those the clause left alone. On
    PostgreSQL the rows are one statement, so two rows with the same
    conflict key are refused ("cannot affect row a second time"): give each key once.
    """
    if not rows:
        return []
    columns = list(rows[0])
    dialect = conn.dialect
    values = _values(table, columns, dialect.name, rows)
    convert = _timestamp(dialect.name)
    extra = tuple(convert(v) if isinstance(v, datetime) else v for v in extra)
    if dialect.name == "postgresql":
        return _insert_unnest(conn, table, columns, values, returning, on_conflict.format(*["%s"] * len(extra)), extra)
    quote = dialect.identifier_preparer.quote
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    head = f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) VALUES "
    one = "(" + ", ".join([mark] * len(columns)) + ")"
    conflict = f" {on_conflict.format(*[mark] * len(extra))}" if on_conflict else ""
    if not returning:
        conn.exec_driver_sql(head + one + conflict, [row + extra for row in values] if extra else values)
        return []
    tail = conflict + " RETURNING " + ", ".join(quote(c) for c in returning)
    found: list[tuple] = []
    start = 0
    for size in statement_sizes(len(values), (MAX_PARAMETERS - len(extra)) // len(columns)):
        chunk = values[start:start + size]
        start += size
        flat = tuple(chain.from_iterable(chunk)) + extra
        found += [tuple(r) for r in conn.exec_driver_sql(head + ", ".join([one] * size) + tail, flat).all()]
    return found


def _insert_unnest(
    conn: Connection, table: Table, columns: list[str], values: list[tuple], returning: tuple[str, ...],
    on_conflict: str = "", extra: tuple[Any, ...] = (),
) -> list[tuple]:
    """PostgreSQL: every row in one statement, a parameter per column (the column's values as an array).

    Each array is cast to its column's type without a length (``VARCHAR``,
    not ``VARCHAR(64)``), so psycopg's choice of element type (text for
    strings, the smallest integer that fits, a list of only NULLs) does not
    matter, and a value too long for its column is still refused by the
    INSERT, as a ``VALUES`` row is (an explicit cast to ``VARCHAR(64)`` would
    cut it silently). No row limit: an array is one parameter.
    """
    dialect = conn.dialect
    quote = dialect.identifier_preparer.quote
    arrays = tuple(list(column) for column in zip(*values))
    # %b: the arrays go in PostgreSQL's binary format; psycopg's text form quoted each element with
    # a regular expression in Python (five times the CPU for a batch's rows).
    casts = ", ".join(f"%b::{_LENGTH.sub('', table.c[c].type.compile(dialect=dialect))}[]" for c in columns)
    sql = f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) SELECT * FROM unnest({casts})"
    if on_conflict:
        sql += f" {on_conflict}"
    if not returning:
        conn.exec_driver_sql(sql, arrays + extra)
        return []
    sql += " RETURNING " + ", ".join(quote(c) for c in returning)
    return [tuple(r) for r in conn.exec_driver_sql(sql, arrays + extra).all()]


def member_of(column: Any, values: Sequence[Any], dialect: str) -> Any:
    """``column IN (values)`` with one parameter, whatever the number of values.

    PostgreSQL: ``column = ANY(%s::type[])`` (psycopg re-parses every
    statement with more than 50 parameters; a batch's look-ups have
    hundreds), the array cast without a length, as in :func:`_insert_unnest`.
    SQLite: ``column IN (SELECT value FROM json_each(?))`` with the values as
    one JSON array (the column's index is used all the same). An ``IN``
    list has a placeholder per value, which SQLAlchemy writes into the
    statement again on every call (about 5% of the worker's own CPU) and
    which makes a statement per list length (see :func:`in_list`, the form
    left for a SQLite without JSON functions, older than 3.38).
    """
    if dialect == "postgresql":
        element = column.type.copy()
        if hasattr(element, "length"):
            element.length = None
        return column == any_(bindparam(None, list(values), type_=ARRAY(element)))
    if dialect == "sqlite" and sqlite3.sqlite_version_info >= (3, 38):
        array = bindparam(None, json.dumps(list(values)), type_=String())
        return column.in_(select(literal_column("value")).select_from(func.json_each(array)))
    return column.in_(in_list(values))


def in_list(values: Sequence[_T]) -> list[_T]:
    """``values`` for an ``IN (...)``, padded with its last value to a power of two in length.

    Why: every length is another SQL text, so another prepared statement in
    the driver's per-connection cache (see the module's docstring).
    """
    padded = list(values)
    if len(padded) > 1:
        padded += [padded[-1]] * ((1 << (len(padded) - 1).bit_length()) - len(padded))
    return padded


def statement_sizes(rows: int, most: int) -> list[int]:
    """The row counts of the statements inserting ``rows`` rows: powers of two, none above ``most``.

    Largest first: as many of the biggest power of two not above ``most``
    as fit, then the binary digits of what is left. So whatever ``rows``
    is, the statements come from at most ``log2(most) + 1`` texts.
    """
    biggest = 1 << (max(1, most).bit_length() - 1)
    sizes = [biggest] * (rows // biggest)
    left = rows % biggest
    while left:
        size = 1 << (left.bit_length() - 1)
        sizes.append(size)
        left -= size
    return sizes


def _values(table: Table, columns: list[str], dialect: str, rows: list[dict[str, Any]]) -> list[tuple]:
    """The rows as tuples in ``columns`` order, the timestamps converted for the driver.

    ``itemgetter``, and each timestamp column converted once per distinct
    value (a batch's rows share a few): per value work in Python was a third
    of building a batch's statements.
    """
    if len(columns) > 1:
        get = operator.itemgetter(*columns)
        values = [get(row) for row in rows]
    else:
        values = [(row[columns[0]],) for row in rows]
    convert = _timestamp(dialect)
    stamps = [(i, {value: convert(value) for value in {row[i] for row in values}})
              for i, column in enumerate(columns) if isinstance(table.c[column].type, UTCDateTime)]
    if not stamps:
        return values
    converted = []
    for row in values:
        row = list(row)
        for i, driver in stamps:
            row[i] = driver[row[i]]
        converted.append(tuple(row))
    return converted


def _timestamp(dialect: str) -> Any:
    cache: dict[datetime, Any] = {}

    def convert(value: datetime | None) -> Any:
        if value is None:
            return None
        if value not in cache:
            utc = value.astimezone(UTC) if value.tzinfo is not None else value
            # SQLite: SQLAlchemy's DATETIME text, naive UTC (what UTCDateTime reads back);
            # PostgreSQL: the aware datetime, as psycopg takes it.
            # (isoformat: SQLAlchemy's zero-padded layout, about twice as fast as strftime)
            cache[value] = utc.replace(tzinfo=None).isoformat(" ", "microseconds") if dialect == "sqlite" else utc
        return cache[value]

    return convert
