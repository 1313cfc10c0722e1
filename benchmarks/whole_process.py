"""Whole-process classification: start-up included, as a person or a cron job runs it.

    python benchmarks/classify_bench.py --whole-process 5000 [--markdown FILE]
    python benchmarks/whole_process.py --messages 5000 [--runs 3] [--one-file-runs 10] [--markdown FILE]

The in-process table of classify_bench.py leaves start-up out; this one
counts everything a command pays, in one run, side by side:

- ``responsemaster classify --jsonl DIR``: N bounces (``bounces/`` of the
  corpus repeated, each copy with its own Message-ID) in one folder, the
  trained model as shipped, JSON lines to /dev/null;
- Sisimai 4.25 (Debian's ``libsisimai-perl``): ``perl -MSisimai`` reading
  the same files and printing one JSON line per file
  (benchmarks/sisimai_driver.pl with ``--repeat 0``: its answer pass only);
- the parse floor: a Python process reading each file and parsing it with
  ``email.message_from_bytes`` (the least any Python classifier pays).

Each contender runs ``--runs`` times, pinned to one CPU (CPU 0) like the
in-process table; the table gives the median wall-clock seconds, the median
CPU seconds of the process (user + system, from the kernel's accounting of
the child) and the ratio to Sisimai on each. Then the one-file start-up:
each command on a single bounce, ``--one-file-runs`` times (mean and
fastest, hyperfine-style). The load average before and after is printed:
on a shared machine the wall clock moves with everybody else's work, the
CPU seconds much less.

Python runs with bytecode caches (``PYTHONPYCACHEPREFIX`` in a temporary
folder, written by an untimed first run), as an installed package has them.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))  # fixtures.worker_setup.unique_copy

from corpus import find_corpus

DRIVER = HERE / "sisimai_driver.pl"
TARGET = 2.0
PARSE_FLOOR = (
    "import email, sys\n"
    "for line in sys.stdin:\n"
    "    with open(line.rstrip('\\n'), 'rb') as handle:\n"
    "        email.message_from_bytes(handle.read())\n"
)


@dataclass
class Timing:
    name: str
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)

    @property
    def wall(self) -> float:
        return statistics.median(self.walls)

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpus)


def _environment(cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


def _run(cmd: list[str], env: dict[str, str], stdin: str | None = None) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one run of ``cmd`` on CPU 0 (stdout discarded)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, input=stdin, text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          preexec_fn=lambda: os.sched_setaffinity(0, {0}), check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def contenders(folder: Path, files: list[Path]) -> list[tuple[str, list[str], str | None]]:
    listing = "".join(f"{path}\n" for path in files)
    return [
        ("ResponseMaster `classify --jsonl`",
         [sys.executable, "-m", "responsemaster", "classify", "--jsonl", str(folder)], None),
        (f"Sisimai {_sisimai_version()} (`perl -MSisimai`)", ["perl", str(DRIVER), "--repeat", "0"], listing),
        ("parse floor (`email.message_from_bytes`)", [sys.executable, "-c", PARSE_FLOOR], listing),
    ]


def _sisimai_version() -> str:
    try:
        out = subprocess.run(["perl", "-MSisimai", "-e", "print $Sisimai::VERSION"], capture_output=True, text=True,
                             check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "(missing)"


def write_bounces(folder: Path, count: int) -> list[Path]:
    """``count`` bounces from the corpus's ``bounces/``, each with its own Message-ID, as files in ``folder``."""
    from fixtures.worker_setup import unique_copy

    sources = [p.read_bytes() for p in sorted((find_corpus() / "bounces").glob("*.eml"))]
    random.Random(13).shuffle(sources)
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for seq in range(count):
        path = folder / f"{seq:06d}.eml"
        path.write_bytes(unique_copy(sources[seq % len(sources)], seq))
        files.append(path)
    return files


def _timed(name: str, cmd: list[str], env: dict[str, str], stdin: str | None, runs: int, warm: bool = False) -> Timing:
    if warm:
        _run(cmd, env, stdin)  # untimed: bytecode caches written, files in the page cache
    timing = Timing(name)
    for _ in range(runs):
        wall, cpu = _run(cmd, env, stdin)
        timing.walls.append(wall)
        timing.cpus.append(cpu)
    return timing


def measure(messages: int, runs: int, one_file_runs: int) -> str:
    work = Path(tempfile.mkdtemp(prefix="rm-whole-"))
    try:
        files = write_bounces(work / "bounces", messages)
        env = _environment(work / "pycache")
        loads = [os.getloadavg()]
        whole = [_timed(name, cmd, env, stdin, runs, warm=True)
                 for name, cmd, stdin in contenders(work / "bounces", files)]
        one = work / "one"
        one.mkdir()
        single = one / files[0].name
        shutil.copy(files[0], single)
        starts = [_timed(name, cmd, env, stdin, one_file_runs) for name, cmd, stdin in contenders(one, [single])]
        loads.append(os.getloadavg())
        return report(messages, runs, one_file_runs, whole, starts, loads)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(messages: int, runs: int, one_file_runs: int, whole: list[Timing], starts: list[Timing],
           loads: list[tuple[float, float, float]]) -> str:
    sisimai = whole[1]
    lines = [
        f"### Whole-process classify of {messages:,} bounces (start-up included)",
        "",
        f"Median of {runs} runs each, pinned to CPU 0. Load average (1, 5, 15 min) before: "
        f"{', '.join(f'{x:.1f}' for x in loads[0])}; after: {', '.join(f'{x:.1f}' for x in loads[1])}.",
        "",
        "| command | wall s | CPU s | msg/s (wall) | msg/CPU-s | x Sisimai (wall) | x Sisimai (CPU) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for t in whole:
        lines.append(
            f"| {t.name} | {t.wall:.2f} | {t.cpu:.2f} | {messages / t.wall:,.0f} | {messages / t.cpu:,.0f} "
            f"| {sisimai.wall / t.wall:.2f} | {sisimai.cpu / t.cpu:.2f} |"
        )
    ours = whole[0]
    met = "met" if sisimai.cpu / ours.cpu >= TARGET else "NOT met"
    lines += [
        "",
        f"Target (issue 13): ≥ {TARGET:g}x Sisimai: {met} on CPU time ({sisimai.cpu / ours.cpu:.2f}x; "
        f"wall clock {sisimai.wall / ours.wall:.2f}x).",
        "",
        f"One file (one bounce), {one_file_runs} runs each, pinned to CPU 0:",
        "",
        "| command | wall s, mean | wall s, fastest | CPU s, mean | CPU s, fastest |",
        "|---|---:|---:|---:|---:|",
    ]
    for t in starts:
        lines.append(f"| {t.name} | {statistics.mean(t.walls):.3f} | {min(t.walls):.3f} "
                     f"| {statistics.mean(t.cpus):.3f} | {min(t.cpus):.3f} |")
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--one-file-runs", type=int, default=10)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args(argv)
    text = measure(args.messages, args.runs, args.one_file_runs)
    print(text)
    if args.markdown:
        args.markdown.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
