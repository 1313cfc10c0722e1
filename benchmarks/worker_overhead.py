"""What the worker costs besides classifying: the drain with every verdict computed beforehand.

    python benchmarks/worker_overhead.py [--messages 5000] [--source maildir|imap|both] [--rounds 2]
                                         [--profile DIR] [--postgres] [--history N] [--batch-size N]

Why: issue 13's CPU ratio is classify-only over the drain, so it is set by
the worker's own work per message (fetch, claim, keep the bytes, record,
route, acknowledge). drain_bench.py gets that part as a difference of two
runs minutes apart, which on this machine moves by 0.1 ms either way. Here
the classifier of a real ``Runtime`` is replaced by a look-up of verdicts it
computed before the clock started (for the same bytes; IMAP hands them back
with CRLF line ends, so the look-up ignores line ends), and only the drain
is timed: what is left is the worker alone, split into user and system CPU
(renames, links, file writes and fsyncs are system time). Same messages as
drain_bench.py (its mix, unique Message-IDs), one worker, SQLite; Dovecot as
the test fixture starts it. ``--profile DIR`` writes a cProfile of the last
round per source (``python -m pstats DIR/maildir.prof``). ``--history N`` records N earlier messages
first (through the worker's recording code), so that the drain meets tables of a long-running
install: the worker's own cost per message should not grow with them.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import resource
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy, as the command sets it (responsemaster/cli/__init__.py)
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

import drain_bench  # noqa: E402


def _cpu() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def _line_ends(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n")


def record_history(store: object, verdicts: list, count: int) -> None:
    """``count`` earlier messages recorded (raw rows, verdicts, recipients) as a long-running install has them.

    Through the worker's own recording code, in transactions of 5,000; each message its own key and
    bytes, the verdicts taken in turn from the corpus's.
    """
    from responsemaster.ingest.source import RawMessage
    from responsemaster.store.recording import ToRecord, record_messages

    for start in range(0, count, 5_000):
        items = [ToRecord(RawMessage("returns", f"history-{n}", f"history {n}".encode()), verdicts[n % len(verdicts)],
                          f"messages/history/{n}.eml") for n in range(start, min(count, start + 5_000))]
        with store.transaction() as session:  # type: ignore[attr-defined]
            record_messages(session, items)


def drain_without_classifying(
    work: Path, db_url: str, source: dict, messages: list[bytes], profile: Path | None, history: int = 0,
    batch_size: int | None = None,
) -> tuple[float, float, float]:
    """(classify-only, user, system) CPU seconds: the messages classified (timed), then one drain of
    ``source`` whose classifier only looks those verdicts up (into a database already holding
    ``history`` messages)."""
    from responsemaster.config import load_settings
    from responsemaster.ingest.factory import build_sources
    from responsemaster.worker_runtime import Runtime

    config = drain_bench.write_config(work / "rm.toml", db_url or f"sqlite:///{work / 'var' / 'responsemaster.db'}",
                                      True, source, batch_size)
    settings = load_settings(config)
    runtime = Runtime.build(settings)
    classifier = runtime.classifier
    drain_bench._warm(classifier, drain_bench.corpus_files())
    start = sum(_cpu())
    verdicts = {_line_ends(raw): classifier.classify(raw) for raw in messages}  # type: ignore[attr-defined]
    classify_cpu = sum(_cpu()) - start
    classifier.classify = lambda raw: verdicts[_line_ends(raw)]  # type: ignore[attr-defined]
    if history:
        record_history(runtime.store, list(verdicts.values()), history)
    sources = build_sources(settings)
    profiler = cProfile.Profile() if profile is not None else None
    user, system = _cpu()
    if profiler is not None:
        profiler.enable()
    totals = runtime.drain_all_once(sources, settle_seconds=0)
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(str(profile))
    after_user, after_system = _cpu()
    done = sum(t.processed + t.quarantined for t in totals.values())
    failed = sum(t.failed for t in totals.values())
    if done != len(messages) or failed:
        sys.exit(f"{source['type']}: {done} of {len(messages)} drained, {failed} failed: not a valid measurement")
    runtime.close()
    return classify_cpu, after_user - user, after_system - system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5_000)
    parser.add_argument("--source", choices=("maildir", "imap", "both"), default="both")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--profile", type=Path, help="write a cProfile of each source's last round here")
    parser.add_argument("--postgres", action="store_true", help="record into a throwaway PostgreSQL instead of SQLite")
    parser.add_argument("--history", type=int, default=0,
                        help="messages recorded in the database before the drain (a long-running install's tables)")
    parser.add_argument("--batch-size", type=int, help="[worker] batch_size of the drain (default: the worker's)")
    args = parser.parse_args()
    from fixtures import dovecot as fx
    from fixtures.worker_setup import fill_maildir

    corpus = drain_bench.corpus_files()
    messages = drain_bench.messages_for(corpus, args.messages)
    kinds = ["maildir", "imap"] if args.source == "both" else [args.source]
    dovecot = drain_bench.Dovecot() if "imap" in kinds else None
    cluster = None
    if args.postgres:
        cluster, why = drain_bench.start_postgres()
        if cluster is None:
            sys.exit(f"PostgreSQL: {why}")
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    database = "PostgreSQL (its server's CPU not counted)" if args.postgres else "SQLite"
    history = f", {args.history:,} messages recorded before" if args.history else ""
    print(f"{args.messages:,} messages (drain_bench.py's mix), one worker, {database}{history}; CPU ms per message: "
          "classify-only (in the same process, just before), the worker besides classifying, and the "
          "CPU ratio they make (classify-only over the two together)\n")
    print("| source | round | classify-only | worker user | worker system | worker total | CPU ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    try:
        for kind in kinds:
            for number in range(1, args.rounds + 1):
                work = Path(tempfile.mkdtemp(prefix="rm-overhead-"))
                try:
                    if kind == "maildir":
                        fill_maildir(work / "inbox", corpus, args.messages)
                        source = {"name": "returns", "type": "maildir", "path": str(work / "inbox")}
                    else:
                        user = dovecot.new_user()  # type: ignore[union-attr]
                        dovecot.append(user, messages)  # type: ignore[union-attr]
                        source = {"name": "imap", "type": "imap", "host": "127.0.0.1", "port": dovecot.port,  # type: ignore[union-attr]
                                  "user": user, "password": fx.PASSWORD, "tls": "none", "idle": False}
                    last = number == args.rounds and args.profile is not None
                    db_url = cluster.create_database() if cluster is not None else ""
                    classify, cpu_user, cpu_system = drain_without_classifying(
                        work, db_url, source, messages, args.profile / f"{kind}.prof" if last else None, args.history,
                        args.batch_size)
                finally:
                    shutil.rmtree(work, ignore_errors=True)
                per = 1000 / args.messages
                worker = cpu_user + cpu_system
                print(f"| {kind} | {number}{' (profiled)' if last else ''} | {classify * per:.3f} | {cpu_user * per:.3f} | "
                      f"{cpu_system * per:.3f} | {worker * per:.3f} | {classify / (classify + worker):.2f} |", flush=True)
    finally:
        if dovecot is not None:
            dovecot.stop()
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()
