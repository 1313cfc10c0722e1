"""One engine factory for SQLite (embedded default) and PostgreSQL (scale-out).

SQLite is tuned for several worker processes on one file: WAL so readers never
block the writer, a busy timeout instead of instant "database is locked",
foreign keys on (off by default in SQLite), a page cache sized for tables
that grow (:data:`DEFAULT_CACHE_MB`), checkpoints of the log every
:data:`WAL_CHECKPOINT_PAGES` pages rather than every commit, and ``BEGIN IMMEDIATE`` so a
transaction takes the write lock up front: two writers queue instead of
deadlocking on a read-to-write upgrade. PostgreSQL needs nothing special:
same models, same code, by URL.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from responsemaster.config import SettingError, setting_value

if TYPE_CHECKING:
    from responsemaster.config import Settings

#: Milliseconds a SQLite writer waits for the lock before giving up.
BUSY_TIMEOUT_MS = 60_000
#: SQLite's page cache per connection, in MiB (``[database] sqlite_cache_mb``). SQLite's own default
#: is 2 MiB: once the tables outgrow it, each row a worker inserts into an index on a random key (a
#: message's uid and hash, an action's key) reads its page again from the operating system. With
#: 300,000 messages recorded the worker's own CPU per message went from 0.33 ms (empty database) to
#: 0.58 with 2 MiB and 0.46 with 16 (0.44 with 64); ``benchmarks/worker_overhead.py --history``.
#: 16 -> 32: the pages one worker batch changes must fit, or SQLite writes them to the log before the
#: commit and again at it; a batch of 5,000 with 100,000 messages recorded changes about 8,500 pages
#: (33 MiB). Read misses then fell from 4.2 to 1.4 a message and log writes from 12.9 to 9.4.
DEFAULT_CACHE_MB = 32
#: Pages the write-ahead log takes before a commit copies it back into the database (SQLite: 1,000,
#: 4 MB). A worker's batch of 500 messages writes rows into a dozen indexes, many on random keys, so
#: commits ran checkpoints often; with 10,000 (40 MB of log) a page changed by several batches is
#: written back once. The worker's own CPU per message: 0.38-0.395 -> 0.335-0.345 ms on an empty
#: database, 0.47 -> 0.43 with 300,000 messages recorded (worker_overhead.py, alternating runs).
WAL_CHECKPOINT_PAGES = 10_000


def normalize_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean psycopg 3 (the one driver we ship)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(settings: Settings | str, *, synchronous: str | None = None, echo: bool = False) -> Engine:
    """The engine for ``settings.database_url`` (or a URL given directly)."""
    if isinstance(settings, str):
        url, options = normalize_url(settings), {}
    else:
        url, options = normalize_url(settings.database_url), settings.section("database")
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise SettingError("[database] url", f"{url!r} is not a database URL (sqlite:///PATH or postgresql://...)") from None
    if parsed.get_backend_name() == "sqlite":
        sync = synchronous or setting_value("database", options, "sqlite_synchronous", str, "NORMAL").upper()
        cache_mb = setting_value("database", options, "sqlite_cache_mb", int, DEFAULT_CACHE_MB)
        if cache_mb < 1:
            raise SettingError("[database] sqlite_cache_mb", f"must be at least 1 (MiB), not {cache_mb}")
        return _sqlite_engine(url, parsed.database, sync, echo, cache_mb)
    pool = setting_value("database", options, "pool_size", int, 5)
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=pool, max_overflow=pool)


def _sqlite_engine(url: str, database: str | None, synchronous: str, echo: bool, cache_mb: int) -> Engine:
    if synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
        raise SettingError("[database] sqlite_synchronous", f"must be NORMAL, FULL or EXTRA, not {synchronous!r}")
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, echo=echo, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy (not the driver) decide when a transaction begins.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _switch_to_wal(cursor)
        cursor.execute(f"PRAGMA synchronous = {synchronous}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA cache_size = {-1024 * cache_mb}")  # negative: KiB, not pages
        cursor.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = "DEFERRED" if conn.get_execution_options().get("readonly") else "IMMEDIATE"
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _switch_to_wal(cursor: Any) -> None:
    """``PRAGMA journal_mode = WAL``, tried again while another connection holds the file.

    WAL is a property of the file, set by the first connection; the others
    find it set. But while a new file is being switched, SQLite answers a
    second connection's switch "database is locked" at once, without the busy
    timeout (8 connections opening a new file together: 1 start in 10 failed
    so; ``run``'s processes and the API start together on a first run).
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"
