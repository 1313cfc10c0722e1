"""Two versions of the code, measured alternately in one window: classify-only and a one-worker drain.

    python benchmarks/drain_ab.py BEFORE_TREE AFTER_TREE [--rounds 2] [--messages 5000]
    git worktree add /tmp/before <commit>   # a tree to compare with (models/ included)

Why: on this shared machine the same command's CPU seconds move by 10-20%
from one quarter of an hour to the next, more than most changes to the worker.
drain_bench.py runs its contenders minutes apart; here each round runs both
trees back to back (classify-only, then Maildir -> SQLite with one worker, the
same 5,000 messages drain_bench.py builds), so a difference between the trees
is measured under the same conditions. Each measurement is one of
drain_bench.py's own child processes (the same warm-up and timing as its
table), started with ``PYTHONPATH`` set to the tree, so it imports that
tree's ``responsemaster``; the benchmark helpers come from this checkout.
Prints CPU milliseconds per message and the CPU ratio (classify-only over
drain) per round, as a markdown table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))  # fixtures.worker_setup.fill_maildir

import drain_bench  # noqa: E402


def imported_from(tree: Path) -> Path:
    """Where a Python with ``tree`` on PYTHONPATH imports ``responsemaster`` from (``-P``: not the current folder)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    code = "import pathlib, responsemaster; print(pathlib.Path(responsemaster.__file__).parent.parent)"
    return Path(subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, env=env,
                               check=True).stdout.strip())


def measure(tree: Path, kind: str, messages: int) -> float:
    """CPU seconds of drain_bench.py's ``kind`` child ("classify" or "drain") with ``tree``'s code, on a fresh Maildir."""
    from fixtures.worker_setup import fill_maildir

    work = Path(tempfile.mkdtemp(prefix="rm-ab-"))
    os.environ["PYTHONPATH"] = str(tree)  # drain_bench.run_child passes the environment on
    try:
        inbox = work / "inbox"
        fill_maildir(inbox, drain_bench.corpus_files(), messages)
        config = drain_bench.write_config(work / "rm.toml", f"sqlite:///{work / 'var' / 'responsemaster.db'}", True,
                                          {"name": "returns", "type": "maildir", "path": str(inbox)})
        return float(drain_bench.run_child(kind, config, maildir=inbox)["cpu"])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _row(label: str, code: str, classify: float, drain: float) -> None:
    print(f"| {label} | {code} | {classify:.3f} | {drain:.3f} | {drain - classify:.3f} | {classify / drain:.2f} |",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--messages", type=int, default=5_000)
    args = parser.parse_args()
    for tree in (args.before, args.after):
        if imported_from(tree).resolve() != tree.resolve():
            sys.exit(f"{tree}: Python imports responsemaster from {imported_from(tree)}, not from the tree")
    print(f"{args.messages:,} messages (drain_bench.py's mix), CPU ms per message; load average {os.getloadavg()[0]:.1f}")
    print("\n| round | code | classify-only | drain (Maildir -> SQLite, 1 worker) | worker besides classifying | CPU ratio |")
    print("|---:|---|---:|---:|---:|---:|")
    seen: dict[str, list[tuple[float, float]]] = {"before": [], "after": []}
    for number in range(1, args.rounds + 1):
        for name, tree in (("before", args.before), ("after", args.after)):
            classify = measure(tree, "classify", args.messages) * 1000 / args.messages
            drain = measure(tree, "drain", args.messages) * 1000 / args.messages
            seen[name].append((classify, drain))
            _row(str(number), f"{name} (`{tree}`)", classify, drain)
    for name, pairs in seen.items():
        _row("median", name, statistics.median(c for c, _ in pairs), statistics.median(d for _, d in pairs))
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
