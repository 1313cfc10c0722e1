"""Issue 13's one-worker CPU ratio, measured in pairs: classify-only, then the drain, again and again.

    python benchmarks/ratio_pairs.py [--messages 10000] [--pairs 5] [--postgres]

Why: drain_bench.py measures classify-only once and each drain once, minutes
apart, and on this shared machine the Maildir -> SQLite ratio came out 0.79,
0.65, 0.66 and 0.73 in four runs of the same code within ten minutes. Here
each pair is classify-only and the one-worker Maildir drain (SQLite, or a
throwaway PostgreSQL with ``--postgres``) run back to back on the same
messages, each in a fresh child process exactly as drain_bench.py runs them
(its ``--child`` mode); the table gives every pair's CPU ratio and their
median, which is the figure to hold against the target.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

import drain_bench  # noqa: E402


def one_pair(work: Path, corpus: list[Path], n: int, cluster: object | None,
             batch_size: int | None = None) -> tuple[float, float]:
    """(classify-only CPU s, drain CPU s) for ``n`` fresh messages each."""
    from fixtures.worker_setup import fill_maildir

    cpu = []
    for kind in ("classify", "drain"):
        run = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=work))
        maildir = run / "inbox"
        fill_maildir(maildir, corpus, n)
        url = f"sqlite:///{run / 'var' / 'responsemaster.db'}" if cluster is None else cluster.create_database()  # type: ignore[attr-defined]
        config = drain_bench.write_config(run / "rm.toml", url, True, {"name": "returns", "type": "maildir",
                                                                       "path": str(maildir)}, batch_size)
        result = drain_bench.run_child(kind, config, maildir=maildir if kind == "classify" else None)
        if result["messages"] != n or result.get("failed"):
            sys.exit(f"{kind}: {result['messages']} of {n} messages, {result.get('failed', 0)} failed: no measurement")
        cpu.append(result["cpu"])
        shutil.rmtree(run, ignore_errors=True)
    return cpu[0], cpu[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--postgres", action="store_true", help="drain into a throwaway PostgreSQL instead of SQLite")
    parser.add_argument("--batch-size", type=int, help="[worker] batch_size of the drain (default: the worker's)")
    args = parser.parse_args()
    cluster = None
    if args.postgres:
        cluster, why = drain_bench.start_postgres()
        if cluster is None:
            sys.exit(f"PostgreSQL: {why}")
    target = drain_bench.TARGET_RATIO_PG if args.postgres else drain_bench.TARGET_RATIO
    corpus = drain_bench.corpus_files()
    work = Path(tempfile.mkdtemp(prefix="rm-ratio-pairs-"))
    print(f"Machine: {drain_bench.machine()}  \n{args.messages:,} messages a run, Maildir -> "
          f"{'PostgreSQL' if args.postgres else 'SQLite'}, one worker, model on, "
          f"batch size {args.batch_size or 'default'}\n")
    print("| pair | classify-only CPU s | drain CPU s | CPU ratio |\n|---:|---:|---:|---:|")
    ratios = []
    try:
        for number in range(1, args.pairs + 1):
            classify, drain = one_pair(work, corpus, args.messages, cluster, args.batch_size)
            ratios.append(classify / drain)
            print(f"| {number} | {classify:.2f} | {drain:.2f} | {ratios[-1]:.2f} |", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if cluster is not None:
            cluster.stop()
    median = statistics.median(ratios)
    print(f"\nMedian CPU ratio {median:.2f} (range {min(ratios):.2f}-{max(ratios):.2f}; target ≥ {target}): "
          f"{'met' if median >= target else 'NOT met'}")


if __name__ == "__main__":
    main()
