"""What each step of the worker costs inside a real drain, and what it costs with nothing between.

    python benchmarks/stage_costs.py [--messages 10000] [--rounds 2] [--markdown FILE]

Why: worker_overhead.py measures the worker's own part with the classifier
replaced by a look-up, so every step runs in a row with nothing between. In
a real drain the classifier runs between the per-message steps, and a step
that runs between two classifications finds the CPU's caches full of the
classifier's code and data (and leaves them full of its own): issue 13's
fifteenth session found the hard link of each kept copy at 15.7 µs a message
there against 7.9 in a row, and moved it (and the hashing) into passes of
their own. This script shows that kind of difference: one process, a
Maildir of drain_bench.py's mix, two drains into fresh SQLite databases,
one with the real classifier (the model on, as shipped) and one whose
classifier looks up the verdicts computed before (untimed), each step of
the worker wrapped in ``time.process_time`` accumulators. ``--rounds`` runs
the pair again (the table gives each round). The accumulators cost about a
microsecond a call (two clock reads, system calls), in both columns, though
between two classifications they too run colder; "the rest" is the drain's
CPU less the steps named: the per-message work of the classification loop
that is not a step of its own (and the accumulators of ``_classify``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy, as the command sets it (responsemaster/cli/__init__.py)
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))  # fixtures.worker_setup.fill_maildir

import drain_bench  # noqa: E402

#: The worker's steps timed (module-level functions of responsemaster.worker), in the order a batch runs them.
STEPS = ("gather", "_claim", "_hash_all", "_classify", "_keep_all", "record_batch", "_tell_source")


def timed_steps(totals: Counter[str]) -> Callable[[], None]:
    """Wrap the worker's steps so each adds its CPU seconds to ``totals``; returns the undo."""
    from responsemaster import worker

    originals = {name: getattr(worker, name) for name in STEPS}

    def wrap(name: str, function: Callable[..., object]) -> Callable[..., object]:
        def timed(*args: object, **kwargs: object) -> object:
            start = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                totals[name] += time.process_time() - start
        return timed

    for name, function in originals.items():
        setattr(worker, name, wrap(name, function))

    def undo() -> None:
        for name, function in originals.items():
            setattr(worker, name, function)

    return undo


def one_drain(work: Path, corpus: list[Path], count: int, look_up: bool) -> tuple[Counter[str], float]:
    """(CPU seconds per step, the drain's CPU seconds) of one drain of ``count`` messages."""
    from fixtures.worker_setup import fill_maildir

    from responsemaster.config import load_settings
    from responsemaster.ingest.factory import build_sources
    from responsemaster.worker_runtime import Runtime

    shutil.rmtree(work, ignore_errors=True)
    fill_maildir(work / "inbox", corpus, count)
    config = drain_bench.write_config(work / "rm.toml", f"sqlite:///{work / 'var' / 'responsemaster.db'}", True,
                                      {"name": "returns", "type": "maildir", "path": str(work / "inbox")})
    settings = load_settings(config)
    runtime = Runtime.build(settings)
    drain_bench._warm(runtime.classifier, corpus)
    if look_up:
        classify = runtime.classifier.classify  # type: ignore[attr-defined]
        raws = [path.read_bytes() for path in (work / "inbox" / "new").iterdir()]
        verdicts = {raw: classify(raw) for raw in raws}
        runtime.classifier.classify = verdicts.__getitem__  # type: ignore[attr-defined]
    totals: Counter[str] = Counter()
    undo = timed_steps(totals)
    try:
        start = time.process_time()
        runtime.drain_all_once(build_sources(settings), settle_seconds=0)
        drain = time.process_time() - start
    finally:
        undo()
        runtime.close()
    return totals, drain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    args = parser.parse_args()
    corpus = drain_bench.corpus_files()
    work = Path(tempfile.mkdtemp(prefix="rm-stage-costs-"))
    per = 1e6 / args.messages
    lines = [f"{args.messages:,} messages (drain_bench.py's mix), Maildir -> SQLite, one worker, µs a message; "
             f"{drain_bench.machine()}", "",
             "| step | " + " | ".join(f"real drain {r} | look-up drain {r}" for r in range(1, args.rounds + 1)) + " |",
             "|---|" + "---:|---:|" * args.rounds]
    columns = []
    try:
        for _round in range(args.rounds):
            for look_up in (False, True):
                totals, drain = one_drain(work / "run", corpus, args.messages, look_up)
                totals["the rest"] = drain - sum(totals.values())
                totals["the whole drain"] = drain
                columns.append(totals)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for name in (*STEPS, "the rest", "the whole drain"):
        lines.append(f"| {name} | " + " | ".join(f"{column[name] * per:.1f}" for column in columns) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
