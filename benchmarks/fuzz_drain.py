"""Fuzz at scale: mutated real mail through the real worker into the database.

    nice python benchmarks/fuzz_drain.py [--messages 100000] [--chunk 2000] [--seed N]
                                         [--database URL] [--no-model] [--keep] [--workdir DIR]

Real messages (the labelled corpus and training_data/) are damaged the ways
returned mail is (tests/fixtures/mutations.py: truncation, duplicated and
folded headers, broken boundaries and encodings, wrong charsets, NULs,
megabyte lines, deep nesting, parameter floods, byte flips...), written into a
Maildir a chunk at a time and drained by the worker (``Runtime``: the shipped
classifier with its model, the store, the router, group commit) exactly as
``run`` does. After each chunk it checks:

- no crash: no exception out of the worker, no message ``failed``;
- every message left the inbox, and its bytes are recorded once (a row per
  distinct sha256, ``processed`` or ``quarantined``), the kept copy identical
  to what was written, a quarantined one also byte for byte in quarantine;
- memory: the process's resident size after each chunk (flat: no growth
  with the count);
- time: CPU milliseconds of each message's classification (mean, p99, max)
  and the worker's wall time per message.

Files are removed after each chunk is checked (``--keep`` leaves them), so
100,000 messages need only a chunk's worth of disk. Prints a table row per
``--report`` messages and exits 1 if any check failed. The CI slice is
tests/test_fuzz_drain.py (2,000 messages).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import random
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))

from fixtures.mutations import mutate  # noqa: E402


@dataclass
class Totals:
    messages: int = 0
    processed: int = 0
    quarantined: int = 0
    duplicates: int = 0
    failed: int = 0
    bytes: int = 0
    worker_seconds: float = 0.0
    #: CPU seconds of each classification (all of them: 100,000 floats is under a megabyte)
    cpu: list[float] = field(default_factory=list)
    slowest: tuple[float, int, str] = (0.0, 0, "")
    slowest_raw: bytes = b""
    #: sha256 digests checked in earlier chunks (their kept files may be cleaned away since)
    checked: set[bytes] = field(default_factory=set)
    rss_mb: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class TimedClassifier:
    """The real classifier, timing each message (CPU seconds) and remembering the slowest."""

    def __init__(self, inner: object, totals: Totals) -> None:
        self.inner, self.totals, self.names = inner, totals, {}

    def classify(self, raw: bytes):  # type: ignore[no-untyped-def]
        started = time.process_time()
        try:
            return self.inner.classify(raw)  # type: ignore[attr-defined]
        finally:
            spent = time.process_time() - started
            self.totals.cpu.append(spent)
            if spent > self.totals.slowest[0]:
                self.totals.slowest = (spent, len(raw), self.names.get(hashlib.sha256(raw).hexdigest(), "?"))
                self.totals.slowest_raw = raw

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def originals() -> list[bytes]:
    """The real messages mutated: the labelled corpus and the training data."""
    from corpus import find_corpus

    corpus = find_corpus()
    paths = sorted(corpus.rglob("*.eml")) + sorted((REPO / "training_data").rglob("*.eml"))
    return [p.read_bytes() for p in paths]


def fuzz(messages: int, chunk: int, seed: int, workdir: Path, database_url: str = "", use_model: bool = True,
         keep: bool = False, on_chunk: Callable[[Totals], None] | None = None, sync_kept_files: bool = True) -> Totals:
    """Run the fuzz; the totals, with ``problems`` listing every failed check.

    The classifier first sees a fifth of the originals, untimed: what it loads on first use (a
    language's word lists) is start-up, not the cost of a message.
    """
    from responsemaster.config import Settings
    from responsemaster.ingest.maildir_source import MaildirSource
    from responsemaster.worker_runtime import Runtime

    rng = random.Random(seed)
    pool = originals()
    box, quarantine = workdir / "box", workdir / "quarantine"
    settings = Settings(base_dir=workdir, var_dir=workdir / "var",
                        database_url=database_url or f"sqlite:///{workdir / 'var' / 'fuzz.db'}")
    settings.classify.use_model = use_model
    (workdir / "var").mkdir(parents=True, exist_ok=True)
    totals = Totals()
    runtime = Runtime.build(settings)
    runtime.options.sync_kept_files = sync_kept_files
    for raw in pool[::5]:
        runtime.classifier.classify(raw)
    timed = TimedClassifier(runtime.classifier, totals)
    runtime.classifier = timed
    try:
        for start in range(0, messages, chunk):
            written = _write_chunk(box, pool, rng, start, min(chunk, messages - start), timed.names)
            source = MaildirSource("fuzz", box, quarantine=quarantine)
            started = time.monotonic()
            try:
                batch = runtime.drain(source)
            except Exception as exc:  # noqa: BLE001 - a crash is what this looks for
                totals.problems.append(f"messages {start}-{start + chunk}: the worker raised {type(exc).__name__}: {exc}")
                raise
            finally:
                source.close()
            totals.worker_seconds += time.monotonic() - started
            for name in ("processed", "quarantined", "duplicates", "failed"):
                setattr(totals, name, getattr(totals, name) + getattr(batch, name))
            totals.messages += min(chunk, messages - start)
            totals.bytes += sum(size for size, _ in written.values())
            if batch.failed:
                totals.problems.append(f"messages {start}-{start + chunk}: {batch.failed} failed")
            _check_chunk(runtime.store, box, quarantine, written, totals)
            if not keep:
                _clean(box, quarantine, runtime.store.raw_files.root)
            totals.rss_mb.append(_rss_mb())
            if on_chunk is not None:
                on_chunk(totals)
    finally:
        runtime.close()
    return totals


def _write_chunk(box: Path, pool: list[bytes], rng: random.Random, start: int, count: int,
                 names: dict[str, str]) -> dict[str, tuple[int, str]]:
    """``count`` mutated messages into ``box/new``; sha256 -> (size, mutation names)."""
    for sub in ("tmp", "new", "cur"):
        (box / sub).mkdir(parents=True, exist_ok=True)
    written: dict[str, tuple[int, str]] = {}
    names.clear()
    for seq in range(start, start + count):
        raw, applied = mutate(rng.choice(pool), rng)
        digest = hashlib.sha256(raw).hexdigest()
        written[digest] = (len(raw), "+".join(applied))
        names[digest] = "+".join(applied)
        name = f"{1_700_000_000 + seq}.M{seq}P{os.getpid()}.fuzz"
        (box / "tmp" / name).write_bytes(raw)
        os.rename(box / "tmp" / name, box / "new" / name)
    return written


def _check_chunk(store, box: Path, quarantine: Path, written: dict[str, tuple[int, str]], totals: Totals) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from responsemaster.store.messages import RawMessageRow

    left = sum(len(os.listdir(box / sub)) for sub in ("new", "cur", "rm-claimed") if (box / sub).is_dir())
    if left:
        totals.problems.append(f"{left} messages left in the inbox")
    rows: dict[str, list[tuple[str, str]]] = {}
    digests = list(written)
    with store.reader() as session:
        for at in range(0, len(digests), 500):
            query = select(RawMessageRow.sha256, RawMessageRow.state, RawMessageRow.path).where(
                RawMessageRow.source == "fuzz", RawMessageRow.sha256.in_(digests[at:at + 500]))
            for digest, state, path in session.execute(query):
                rows.setdefault(digest, []).append((state, path))
    in_quarantine = {hashlib.sha256(p.read_bytes()).hexdigest() for p in _files(quarantine / "cur")}
    for digest, (size, applied) in written.items():
        found = rows.get(digest, [])
        if len(found) != 1:
            totals.problems.append(f"{digest[:12]} ({applied}, {size} B): {len(found)} rows")
            continue
        state, path = found[0]
        if state not in ("processed", "quarantined"):
            totals.problems.append(f"{digest[:12]} ({applied}): state {state}")
        if bytes.fromhex(digest) in totals.checked:
            continue  # recorded in an earlier chunk (the same bytes again): checked then
        totals.checked.add(bytes.fromhex(digest))
        try:
            kept = store.raw_files.read(path)
        except OSError:
            kept = b""
        if hashlib.sha256(kept).hexdigest() != digest:
            totals.problems.append(f"{digest[:12]} ({applied}): kept bytes differ")
        if state == "quarantined" and digest not in in_quarantine:
            totals.problems.append(f"{digest[:12]} ({applied}): quarantined but not in the quarantine folder")


def _files(folder: Path) -> Iterator[Path]:
    return (p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else iter(())


def _clean(box: Path, quarantine: Path, kept: Path) -> None:
    for folder in (box / ".Processed" / "cur", box / ".Processed" / "new", quarantine / "cur", quarantine / "reasons"):
        for path in _files(folder):
            path.unlink()
    shutil.rmtree(kept, ignore_errors=True)


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1 << 20)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def row(totals: Totals) -> str:
    cpu = totals.cpu
    mean = sum(cpu) / len(cpu) * 1000 if cpu else 0.0
    slow_s, slow_size, slow_kind = totals.slowest
    return (f"| {totals.messages:,} | {totals.processed:,} | {totals.quarantined:,} | {totals.duplicates:,} | {totals.failed} "
            f"| {len(totals.problems)} | {totals.rss_mb[-1]:.0f} | {mean:.1f} | {percentile(cpu, 0.99) * 1000:.0f} "
            f"| {slow_s * 1000:.0f} ({slow_size / 1024:.0f} KB, {slow_kind}) "
            f"| {totals.worker_seconds / max(totals.messages, 1) * 1000:.1f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=2_000)
    parser.add_argument("--report", type=int, default=10_000, help="a table row every this many messages")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--database", default="", help="database URL (default: SQLite in the work folder)")
    parser.add_argument("--no-model", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the files and the work folder")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--no-sync", action="store_true", help="[worker] sync_kept_files = false (no fsync per kept file)")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1_000_000)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="rm-fuzz-"))
    print(f"# fuzz_drain: {args.messages:,} messages, seed {seed}, model {'off' if args.no_model else 'on'}, "
          f"{args.database or 'SQLite'}; {platform.node()}, Python {platform.python_version()}, {os.cpu_count()} CPUs")
    print("| messages | processed | quarantined | already done | failed | check failures | RSS MB | classify ms mean "
          "| p99 | max (size, mutations) | worker ms/msg |\n|---|---|---|---|---|---|---|---|---|---|---|")
    next_report = [args.report]

    def report(totals: Totals) -> None:
        if totals.messages >= next_report[0] or totals.messages >= args.messages:
            print(row(totals), flush=True)
            next_report[0] += args.report

    try:
        totals = fuzz(args.messages, args.chunk, seed, workdir, args.database, not args.no_model, args.keep, report,
                      sync_kept_files=not args.no_sync)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    slowest = Path(tempfile.gettempdir()) / f"rm-fuzz-slowest-{seed}.eml"
    slowest.write_bytes(totals.slowest_raw)
    print(f"\n{totals.bytes / (1 << 30):.2f} GB written; peak RSS {peak:.0f} MB; RSS after the first chunk "
          f"{totals.rss_mb[0]:.0f} MB, after the last {totals.rss_mb[-1]:.0f} MB; the slowest message: {slowest}")
    for problem in totals.problems[:50]:
        print("PROBLEM:", problem)
    return 1 if totals.problems or totals.failed else 0


if __name__ == "__main__":
    sys.exit(main())
