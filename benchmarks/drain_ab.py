"""Two versions of the code, measured alternately in one window: classify-only and a one-worker drain.

    python benchmarks/drain_ab.py BEFORE_TREE AFTER_TREE [--rounds 2] [--messages 5000]
    git worktree add /tmp/before <commit>   # a tree to compare with (models/ included)

Why: on this shared machine the same command's CPU seconds move by 10-20%
from one quarter of an hour to the next, more than most changes to the worker.
drain_bench.py runs its contenders minutes apart; here each round runs both
trees back to back (classify-only, then Maildir -> SQLite with one worker, the
same 5,000 messages drain_bench.py builds), so a difference between the trees
is measured under the same conditions. Each measurement is its own process
with ``PYTHONPATH`` set to the tree, so it imports that tree's
``responsemaster``; the benchmark helpers (message mix, config, warm-up) come
from this checkout. Prints CPU milliseconds per message and the CPU ratio
(classify-only over drain) per round, as a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))  # fixtures.worker_setup.fill_maildir


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(kind: str, messages: int) -> None:
    """One measurement in this process (the tree on PYTHONPATH); a JSON line on stdout."""
    import drain_bench
    from fixtures.worker_setup import fill_maildir

    import responsemaster
    from responsemaster.config import load_settings
    from responsemaster.ingest.factory import build_sources
    from responsemaster.worker_runtime import Runtime

    work = Path(tempfile.mkdtemp(prefix="rm-ab-"))
    try:
        corpus = drain_bench.corpus_files()
        inbox = work / "inbox"
        fill_maildir(inbox, corpus, messages)
        config = drain_bench.write_config(work / "rm.toml", f"sqlite:///{work / 'var' / 'responsemaster.db'}", True,
                                          {"name": "returns", "type": "maildir", "path": str(inbox)})
        settings = load_settings(config)
        runtime = Runtime.build(settings)
        drain_bench._warm(runtime.classifier, corpus)
        if kind == "classify":
            raws = [path.read_bytes() for path in sorted((inbox / "new").iterdir())]
            start = _cpu()
            for raw in raws:
                runtime.classifier.classify(raw)
        else:
            sources = build_sources(settings)
            start = _cpu()
            runtime.drain_all_once(sources, settle_seconds=0)
        print(json.dumps({"cpu": _cpu() - start, "code": str(Path(responsemaster.__file__).parent.parent)}))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(tree: Path, kind: str, messages: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--messages", str(messages), "x", "y"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        sys.exit(f"{kind} in {tree} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    result = json.loads(lines[-1])
    if Path(result["code"]).resolve() != tree.resolve():
        sys.exit(f"{tree}: the child imported responsemaster from {result['code']}, not from the tree")
    return float(result["cpu"])


def _row(label: str, code: str, classify: float, drain: float) -> None:
    print(f"| {label} | {code} | {classify:.3f} | {drain:.3f} | {drain - classify:.3f} | {classify / drain:.2f} |",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--messages", type=int, default=5_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.messages)
        return
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
