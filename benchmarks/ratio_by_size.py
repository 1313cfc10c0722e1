"""Issue 13's one-worker CPU ratio as the database grows, classify-only and the drain measured in turns.

    python benchmarks/ratio_by_size.py [--messages 100000] [--step 10000] [--batch-size N] [--markdown FILE]

Why: drain_bench.py measures classify-only and the drain in two processes
minutes apart. At 100,000 messages each takes over a minute, and on this
shared machine the same work's CPU seconds move by 10-30% from one minute to
the next, so its ratio at that size has come out anywhere from 0.56 to 0.89
for the same code. Here one process holds two classifiers built alike (the
reference, and the worker runtime's own: neither shares the other's
memories) and one SQLite database, and goes through the messages a step at a
time: the step's messages are delivered to the Maildir (untimed), classified
by the reference (only the ``classify`` calls timed, as in drain_bench.py's
classify-only), then drained by the runtime (``drain_all_once``, as ``run
--once --workers 1``) into the same database, which keeps growing. Each
step's two measurements are seconds apart, so a slow minute slows both; the
ratio is taken per step and over all steps so far (classify-only CPU seconds
over the drain's). The messages are drain_bench.py's mix, every copy its own
Message-ID, none repeated across steps. The drain's own ``classify`` calls
are timed too (``time.process_time`` around each): the drain less those is
the worker's own part, the share that can grow with the tables.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy, as the command sets it (responsemaster/cli/__init__.py)
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))  # fixtures.worker_setup.fill_maildir

import drain_bench  # noqa: E402


def classify_cpu(classifier: object, folder: Path) -> tuple[int, float]:
    """(messages, CPU seconds of the ``classify`` calls alone) for every file in ``folder``."""
    count, cpu = 0, 0.0
    for path in sorted(folder.iterdir()):
        raw = path.read_bytes()
        start = drain_bench._cpu()
        classifier.classify(raw)  # type: ignore[attr-defined]
        cpu += drain_bench._cpu() - start
        count += 1
    return count, cpu


class TimedClassify:
    """The runtime classifier's ``classify``, adding up the CPU seconds spent inside it."""

    def __init__(self, classifier: object) -> None:
        self.inner = classifier.classify  # type: ignore[attr-defined]
        self.cpu = 0.0

    def __call__(self, raw: bytes) -> object:
        start = time.process_time()
        try:
            return self.inner(raw)
        finally:
            self.cpu += time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--step", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, help="[worker] batch_size of the drain (default: the worker's)")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    from fixtures.worker_setup import fill_maildir
    from responsemaster.classify import build_classifier
    from responsemaster.config import load_settings
    from responsemaster.ingest.factory import build_sources
    from responsemaster.worker_runtime import Runtime

    corpus = drain_bench.corpus_files()
    work = Path(tempfile.mkdtemp(prefix="rm-ratio-"))
    inbox = work / "inbox"
    source = {"name": "returns", "type": "maildir", "path": str(inbox)}
    config = drain_bench.write_config(work / "rm.toml", f"sqlite:///{work / 'var' / 'responsemaster.db'}", True,
                                      source, args.batch_size)
    lines = [f"{args.messages:,} messages in steps of {args.step:,} (drain_bench.py's mix), Maildir -> SQLite, one "
             f"worker, batch size {args.batch_size or 'default'}; CPU ms a message, classify-only and the drain "
             f"measured seconds apart in each step; {drain_bench.machine()}", "",
             "| recorded before | classify-only | drain | of it classify | of it the worker's own | CPU ratio (step) "
             "| CPU ratio (so far) | load |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    print("\n".join(lines), flush=True)
    try:
        settings = load_settings(config)
        reference = build_classifier(settings)
        runtime = Runtime.build(settings)
        drain_bench._warm(reference, corpus)
        drain_bench._warm(runtime.classifier, corpus)
        timed = runtime.classifier.classify = TimedClassify(runtime.classifier)  # type: ignore[attr-defined]
        sources = build_sources(settings)
        totals = [0.0, 0.0]
        for start in range(0, args.messages, args.step):
            count = min(args.step, args.messages - start)
            fill_maildir(inbox, corpus, count, start=start)
            os.sync()
            classified, reference_cpu = classify_cpu(reference, inbox / "new")
            before, inside = drain_bench._cpu(), timed.cpu
            done = runtime.drain_all_once(sources, settle_seconds=0)
            drain_cpu = drain_bench._cpu() - before
            drained = sum(t.processed + t.quarantined for t in done.values())
            if drained != count or classified != count or sum(t.failed for t in done.values()):
                sys.exit(f"step at {start:,}: {drained} drained, {classified} classified of {count}: not a measurement")
            totals[0] += reference_cpu
            totals[1] += drain_cpu
            per = 1000 / count
            inside = timed.cpu - inside
            line = (f"| {start:,} | {reference_cpu * per:.3f} | {drain_cpu * per:.3f} | {inside * per:.3f} | "
                    f"{(drain_cpu - inside) * per:.3f} | "
                    f"{reference_cpu / drain_cpu:.2f} | {totals[0] / totals[1]:.2f} | {os.getloadavg()[0]:.2f} |")
            lines.append(line)
            print(line, flush=True)
        runtime.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.markdown is not None:
        args.markdown.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"\n({time.monotonic() - started:.0f} s)")
