"""Issue 13's one-worker ratio in instructions: the same as a CPU ratio, without the machine's noise.

    python benchmarks/instructions.py [--messages 1000] [--batch-size N] [--tree PATH ...] [--profiles DIR]

Why: on this shared machine the same loop's CPU time moves by half from one
second to the next (0.21-0.35 s for one pure-Python loop, 2026-12-05), so CPU
ratios of runs minutes apart (drain_bench.py), and even back to back
(drain_bench.py --rounds, drain_ab.py), move by more than most changes to the worker
do. Counting the instructions a process executes is deterministic (valgrind's
cachegrind without its cache model: the same run twice agrees to 0.03%).

Each measurement is one of drain_bench.py's own child processes (classify-only,
or the one-worker drain Maildir -> SQLite, model on) run under
``valgrind --tool=cachegrind --cache-sim=no``, on N and on 2N fresh messages
(drain_bench.py's mix): the difference of the two counts is what N messages
cost, start-up, imports, the model's loading and the warm-up cancelled out.
The worker's batch size is N unless ``--batch-size`` says otherwise, so the
two drains make one and two batches: a batch's fixed cost is in the figure,
spread over N messages as in a long drain with batches of N. The table gives instructions per message for classify-only and the
drain, the worker's own part (the difference) and the ratio, for each tree
(``--tree``: a checkout whose ``responsemaster`` is imported instead, as in
drain_ab.py; default this one).

What it leaves out: the kernel's work (valgrind counts user space only), so
the drain's renames, links, fsyncs and SQLite's writes to its files are not
in it; ``drain_bench.py --rounds`` and ``worker_overhead.py`` (system CPU column) see
them. ``--profiles DIR`` keeps each run's cachegrind file
(``<tree>-<kind>-<messages>.out``): ``cg_diff`` of a kind's two files, then
``cg_annotate`` of the difference, gives the instructions N messages cost
per C function (SQLite's, the interpreter's, RE2's...). Python runs with
PYTHONHASHSEED=0 so that sets and dicts iterate the same way in every run. About 10 minutes per tree with N = 1,000 here (valgrind
runs Python about 30 times slower).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

import drain_bench  # noqa: E402

_REFS = re.compile(r"^summary:\s+(\d+)", re.M)


@dataclass
class Count:
    """Instructions per message of one tree."""

    tree: str
    classify: float
    drain: float

    @property
    def worker(self) -> float:
        return self.drain - self.classify

    @property
    def ratio(self) -> float:
        return self.classify / self.drain


def instructions(kind: str, tree: Path, work: Path, corpus: list[Path], n: int, batch_size: int | None,
                 profiles: Path | None = None) -> int:
    """Instructions of one drain_bench.py child (``classify`` or ``drain``) over ``n`` fresh messages."""
    from fixtures.worker_setup import fill_maildir

    run = Path(tempfile.mkdtemp(prefix=f"{kind}-{n}-", dir=work))
    maildir = run / "inbox"
    fill_maildir(maildir, corpus, n)
    config = drain_bench.write_config(run / "rm.toml", f"sqlite:///{run / 'var' / 'responsemaster.db'}", True,
                                      {"name": "returns", "type": "maildir", "path": str(maildir)}, batch_size)
    out = run / "cachegrind.out"
    cmd = ["valgrind", "--tool=cachegrind", "--cache-sim=no", f"--cachegrind-out-file={out}",
           sys.executable, str(HERE / "drain_bench.py"), "--child", kind, "--config", str(config)]
    if kind == "classify":
        cmd += ["--maildir", str(maildir)]
    env = drain_bench.child_env()
    env["PYTHONHASHSEED"] = "0"
    env["PYTHONPATH"] = str(tree)  # that tree's responsemaster, whatever is installed
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0 or f'"messages": {n},' not in proc.stdout:
        raise RuntimeError(f"{kind} on {n} messages failed ({proc.returncode}):\n{proc.stdout[-500:]}{proc.stderr[-3000:]}")
    found = _REFS.search(out.read_text())
    if found is None:
        raise RuntimeError(f"no instruction count in {out}")
    if profiles is not None:
        profiles.mkdir(parents=True, exist_ok=True)
        shutil.copy(out, profiles / f"{tree.name}-{kind}-{n}.out")
    shutil.rmtree(run, ignore_errors=True)
    return int(found.group(1))


def per_message(tree: Path, work: Path, corpus: list[Path], n: int, batch_size: int | None,
                profiles: Path | None = None) -> Count:
    """Classify-only and drain instructions per message for ``tree``: the counts at 2N minus those at N, over N."""
    each = {}
    for kind, child in (("classify", "classify"), ("drain", "drain")):
        small = instructions(child, tree, work, corpus, n, batch_size, profiles)
        large = instructions(child, tree, work, corpus, 2 * n, batch_size, profiles)
        each[kind] = (large - small) / n
    return Count(str(tree), each["classify"], each["drain"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000, help="N: runs on N and 2N messages (default 1000)")
    parser.add_argument("--batch-size", type=int, help="[worker] batch_size of the drains (default: N)")
    parser.add_argument("--tree", type=Path, action="append",
                        help="a checkout to measure (repeatable; default: this one)")
    parser.add_argument("--profiles", type=Path, help="keep each run's cachegrind file here (see the docstring)")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (Debian: apt-get install valgrind)")
    corpus = drain_bench.corpus_files()
    work = Path(tempfile.mkdtemp(prefix="rm-instructions-"))
    counts = []
    try:
        for tree in args.tree or [HERE.parent]:
            counts.append(per_message(tree.resolve(), work, corpus, args.messages, args.batch_size or args.messages,
                                      args.profiles))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{args.messages:,} and {2 * args.messages:,} messages a run (drain_bench.py's mix), Maildir -> SQLite, "
          f"one worker, model on, batch size {args.batch_size or args.messages:,}; millions of instructions per message "
          "(user space: valgrind's count)\n")
    print("| tree | classify-only | drain | worker besides classifying | instruction ratio |")
    print("|---|---:|---:|---:|---:|")
    for c in counts:
        print(f"| `{c.tree}` | {c.classify / 1e6:.3f} | {c.drain / 1e6:.3f} | {c.worker / 1e6:.3f} | {c.ratio:.3f} |")
    if len(counts) == 2:
        before, after = counts
        print(f"\nworker besides classifying: {after.worker / before.worker - 1:+.1%} "
              f"({(after.worker - before.worker) / 1e6:+.3f} M instructions a message)")


if __name__ == "__main__":
    main()
