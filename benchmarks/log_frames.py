"""What a drain writes to SQLite's log, per message and per table or index: a count, not a timing.

    python benchmarks/log_frames.py [--history 100000] [--messages 10000] [--batch-size N] [--cache-mb N]

Why: the worker's own CPU per message grows with the tables (issue 13), and
on this shared machine CPU time moves by a fifth from one run to the next.
Most of the growth is pages written: every row goes into each index of its
table, an index on a random key (a hash, an address) puts nearly every row
on a page of its own once the index has more pages than the batch has
rows, and each changed page is one frame of the write-ahead log at commit
(two system calls) and one write at the checkpoint. Those frames can be
counted exactly. Here: ``--history`` messages recorded first (through the
worker's own code, as worker_overhead.py does), the log checkpointed empty,
checkpoints turned off, then one drain of ``--messages`` of drain_bench.py's
mix (the classifier replaced by a look-up of verdicts computed first, so
the drain is quick), and the log read back frame by frame: each frame's
page is matched to its table or index with SQLite's ``dbstat``. A frame of
a page that several commits changed counts once per commit, as the log
writes it. ``--batch-size`` and ``--cache-mb`` set ``[worker] batch_size``
and ``[database] sqlite_cache_mb``: a cache smaller than what a batch
changes makes SQLite write pages before the commit as well.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import struct
import sys
import tempfile
import tomllib
from collections import Counter
from pathlib import Path

import tomli_w

HERE = Path(__file__).resolve().parent
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

import drain_bench  # noqa: E402
import worker_overhead  # noqa: E402

#: The log's header and each frame's header (SQLite's file format, "WAL file format").
_WAL_HEADER, _FRAME_HEADER = 32, 24


def read_frames(wal: Path) -> tuple[int, list[int], int]:
    """(page size, the page number of every valid frame in order, commits) of a write-ahead log file."""
    data = wal.read_bytes()
    if len(data) < _WAL_HEADER:
        return 0, [], 0
    page_size, salt = struct.unpack(">I", data[8:12])[0], data[16:24]
    pages, commits, at = [], 0, _WAL_HEADER
    while at + _FRAME_HEADER + page_size <= len(data):
        page, size_after = struct.unpack(">II", data[at:at + 8])
        if data[at + 8:at + 16] != salt:  # a frame left from before the log was last restarted
            break
        pages.append(page)
        commits += size_after != 0
        at += _FRAME_HEADER + page_size
    return page_size, pages, commits


def owners(database: Path) -> dict[int, str]:
    """Page number -> the table or index it belongs to."""
    with sqlite3.connect(database) as conn:
        return dict(conn.execute("SELECT pageno, name FROM dbstat"))


def measure(work: Path, history: int, count: int, batch_size: int | None, cache_mb: int | None) -> tuple[Counter, int, int]:
    """(frames per table or index, distinct pages, commits) of one drain of ``count`` messages."""
    from sqlalchemy import event

    from responsemaster.config import load_settings
    from responsemaster.ingest.factory import build_sources
    from responsemaster.worker_runtime import Runtime
    from fixtures.worker_setup import fill_maildir

    corpus = drain_bench.corpus_files()
    messages = drain_bench.messages_for(corpus, count)
    fill_maildir(work / "inbox", corpus, count)
    source = {"name": "returns", "type": "maildir", "path": str(work / "inbox")}
    database = work / "var" / "responsemaster.db"
    config = drain_bench.write_config(work / "rm.toml", f"sqlite:///{database}", True, source, batch_size)
    if cache_mb is not None:
        data = tomllib.loads(config.read_text())
        data["database"]["sqlite_cache_mb"] = cache_mb
        config.write_text(tomli_w.dumps(data))
    settings = load_settings(config)
    runtime = Runtime.build(settings)
    verdicts = {worker_overhead._line_ends(raw): runtime.classifier.classify(raw) for raw in messages}
    runtime.classifier.classify = lambda raw: verdicts[worker_overhead._line_ends(raw)]  # type: ignore[method-assign]
    if history:
        worker_overhead.record_history(runtime.store, list(verdicts.values()), history)
    engine = runtime.store.engine
    event.listen(engine, "connect", lambda conn, _record: conn.execute("PRAGMA wal_autocheckpoint = 0"))
    engine.dispose()  # the connections opened from now on never checkpoint
    raw = engine.raw_connection()  # outside a transaction (the store's begins every one with BEGIN IMMEDIATE)
    try:
        raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]
    finally:
        raw.close()
    totals = runtime.drain_all_once(build_sources(settings), settle_seconds=0)
    done = sum(t.processed + t.quarantined for t in totals.values())
    if done != count:
        sys.exit(f"{done} of {count} drained: not a valid measurement")
    copy = work / "copy.db"  # the log as the drain left it (closing the runtime would checkpoint it)
    shutil.copy(database, copy)
    shutil.copy(f"{database}-wal", f"{copy}-wal")
    runtime.close()
    _size, pages, commits = read_frames(Path(f"{copy}-wal"))
    named = owners(copy)
    return Counter(named.get(page, "?") for page in pages), len(set(pages)), commits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, default=100_000, help="messages recorded before the drain")
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, help="[worker] batch_size (default: the worker's)")
    parser.add_argument("--cache-mb", type=int, help="[database] sqlite_cache_mb (default: the store's)")
    parser.add_argument("--top", type=int, default=12, help="tables and indexes listed")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rm-log-frames-"))
    try:
        frames, distinct, commits = measure(work, args.history, args.messages, args.batch_size, args.cache_mb)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    per = 1 / args.messages
    total = sum(frames.values())
    print(f"{args.messages:,} messages drained (Maildir -> SQLite, one worker) after {args.history:,} recorded; "
          f"batch size {args.batch_size or 'default'}, cache {args.cache_mb or 'default'} MiB\n")
    print(f"log frames {total:,} ({total * per:.2f} a message), distinct pages {distinct:,}, commits {commits}\n")
    print("| table or index | frames | a message |")
    print("|---|---:|---:|")
    for name, n in frames.most_common(args.top):
        print(f"| {name} | {n:,} | {n * per:.3f} |")
    rest = total - sum(n for _name, n in frames.most_common(args.top))
    print(f"| (the others) | {rest:,} | {rest * per:.3f} |")


if __name__ == "__main__":
    main()
