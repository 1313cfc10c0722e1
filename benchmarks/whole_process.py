"""Whole-process classification: start-up included, as a person or a cron job runs it.

    python benchmarks/classify_bench.py --whole-process 5000 [--markdown FILE]
    python benchmarks/whole_process.py --messages 5000 [--runs 3] [--one-file-runs 10] [--markdown FILE]

The in-process table of classify_bench.py leaves start-up out; this one
counts everything a command pays, in one run, side by side:

- ``responsemaster classify --jsonl DIR``: N bounces (``bounces/`` of the
  corpus repeated, each copy with its own Message-ID) in one folder, the
  trained model as shipped, JSON lines to /dev/null; twice: with its default
  ``--jobs`` (one process per CPU, on every CPU of the machine) and with
  ``--jobs 1`` (one process, pinned to CPU 0 like the others);
- Sisimai 4.25 (Debian's ``libsisimai-perl``): ``perl -MSisimai`` reading
  the same files and printing one JSON line per file
  (benchmarks/sisimai_driver.pl with ``--repeat 0``: its answer pass only);
- the parse floor: a Python process reading each file and parsing it with
  ``email.message_from_bytes`` (the least any Python classifier pays).

Each contender runs ``--runs`` times, the contenders in turn (a round runs each once), pinned to one CPU (CPU 0) like the
in-process table, except ``classify`` with its default jobs, which may use
every CPU; the table gives the median wall-clock seconds, the median CPU
seconds of the process and its children (user + system, from the kernel's
accounting of the child) and the ratio to Sisimai on each: with several
processes the wall clock is the figure the jobs improve, while the CPU
seconds (all processes together) show what they cost. Then the one-file start-up:
each command on a single bounce, then on a single human reply (the first of
``hand-labelled/``: the message model reads it), ``--one-file-runs`` times
(mean and fastest, hyperfine-style). The load average before and after is printed:
on a shared machine the wall clock moves with everybody else's work, the
CPU seconds much less; the ratios of each round (runs seconds apart) are
printed too, with their median.

Python runs with bytecode caches (``PYTHONPYCACHEPREFIX`` in a temporary
folder, written by an untimed first run), as an installed package has them;
so does :mod:`responsemaster.regex_cache` (``RESPONSEMASTER_CACHE_DIR`` in the
same folder).
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

from corpus import find_corpus, load_folder

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
    env["RESPONSEMASTER_CACHE_DIR"] = str(cache / "regex")  # responsemaster.regex_cache, written like the bytecode
    return env


#: The CPUs a contender may use: CPU 0 alone, or (``classify`` with its default jobs) all of them.
ONE_CPU = {0}
EVERY_CPU = os.sched_getaffinity(0)


def _run(cmd: list[str], env: dict[str, str], stdin: str | None = None, cpus: set[int] = ONE_CPU) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one run of ``cmd`` on ``cpus`` (stdout discarded; its children's CPU included)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, input=stdin, text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          preexec_fn=lambda: os.sched_setaffinity(0, cpus), check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


Contender = tuple[str, list[str], "str | None", set[int]]


def contenders(folder: Path, files: list[Path]) -> list[Contender]:
    """(name, command, stdin, CPUs): Sisimai second (the reference of the ratios)."""
    listing = "".join(f"{path}\n" for path in files)
    ours = [sys.executable, "-m", "responsemaster", "classify", "--jsonl"]
    return [
        (f"ResponseMaster `classify --jsonl` (default jobs: {len(EVERY_CPU)} CPUs)", [*ours, str(folder)], None,
         EVERY_CPU),
        (f"Sisimai {_sisimai_version()} (`perl -MSisimai`)", ["perl", str(DRIVER), "--repeat", "0"], listing, ONE_CPU),
        ("ResponseMaster `classify --jsonl --jobs 1`", [*ours, "--jobs", "1", str(folder)], None, ONE_CPU),
        ("parse floor (`email.message_from_bytes`)", [sys.executable, "-c", PARSE_FLOOR], listing, ONE_CPU),
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


def _timed(contenders: list[Contender], env: dict[str, str], runs: int, warm: bool = False) -> list[Timing]:
    """Each contender ``runs`` times, in turn (A B C D, A B C D...), not one contender's runs back to back.

    Why: on a shared machine the speed drifts by a third from one minute to the
    next; in turn, every contender meets the same drift, and each round's
    ratio (see :func:`report`) compares runs seconds apart.
    """
    if warm:
        for _name, cmd, stdin, cpus in contenders:
            _run(cmd, env, stdin, cpus)  # untimed: bytecode caches written, files in the page cache
    timings = [Timing(name) for name, *_ in contenders]
    for _ in range(runs):
        for timing, (_name, cmd, stdin, cpus) in zip(timings, contenders):
            wall, cpu = _run(cmd, env, stdin, cpus)
            timing.walls.append(wall)
            timing.cpus.append(cpu)
    return timings


def first_reply() -> Path:
    """The first human reply of the corpus's ``hand-labelled/`` (by its labels): what the message model reads."""
    folder = find_corpus() / "hand-labelled"
    reply = next((item.path for item in load_folder(folder) if item.category == "user_reply"), None)
    if reply is None:
        raise SystemExit(f"no user_reply in {folder}/labels.jsonl")
    return reply


def measure(messages: int, runs: int, one_file_runs: int) -> str:
    work = Path(tempfile.mkdtemp(prefix="rm-whole-"))
    try:
        files = write_bounces(work / "bounces", messages)
        env = _environment(work / "pycache")
        loads = [os.getloadavg()]
        whole = _timed(contenders(work / "bounces", files), env, runs, warm=True)
        starts = []
        for kind, source in (("bounce", files[0]), ("reply", first_reply())):
            one = work / f"one-{kind}"
            one.mkdir()
            single = one / source.name
            shutil.copy(source, single)
            starts.append((kind, _timed(contenders(one, [single]), env, one_file_runs, warm=True)))
        loads.append(os.getloadavg())
        return report(messages, runs, one_file_runs, whole, starts, loads)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(messages: int, runs: int, one_file_runs: int, whole: list[Timing], starts: list[tuple[str, list[Timing]]],
           loads: list[tuple[float, float, float]]) -> str:
    sisimai = whole[1]
    lines = [
        f"### Whole-process classify of {messages:,} bounces (start-up included)",
        "",
        f"Median of {runs} runs each (in turn), pinned to CPU 0 (default jobs: all {len(EVERY_CPU)} CPUs). Load average (1, 5, 15 min) before: "
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
    jobs, one = whole[0], whole[2]
    lines += [
        "",
        f"Target (issue 13): ≥ {TARGET:g}x Sisimai in one run: {_met(sisimai.wall / jobs.wall)} on the wall clock with "
        f"the default jobs ({sisimai.wall / jobs.wall:.2f}x; their CPU seconds together {sisimai.cpu / jobs.cpu:.2f}x); "
        f"{_met(sisimai.cpu / one.cpu)} with one process on CPU time ({sisimai.cpu / one.cpu:.2f}x).",
        "",
        "Round by round (the contenders run in turn, so a round's runs are seconds apart): x Sisimai on the wall "
        f"clock with the default jobs {_rounds(sisimai.walls, jobs.walls)}; with one process on CPU time "
        f"{_rounds(sisimai.cpus, one.cpus)}.",
    ]
    for kind, timings in starts:
        lines += [
            "",
            f"One file (one {kind}), {one_file_runs} runs each, pinned to CPU 0 (default jobs: all CPUs):",
            "",
            "| command | wall s, mean | wall s, fastest | CPU s, mean | CPU s, fastest |",
            "|---|---:|---:|---:|---:|",
        ]
        for t in timings:
            lines.append(f"| {t.name} | {statistics.mean(t.walls):.3f} | {min(t.walls):.3f} "
                         f"| {statistics.mean(t.cpus):.3f} | {min(t.cpus):.3f} |")
    lines.append("")
    return "\n".join(lines)


def _rounds(reference: list[float], ours: list[float]) -> str:
    """Each round's ratio (reference over ours) and their median."""
    ratios = [r / o for r, o in zip(reference, ours)]
    return f"{', '.join(f'{r:.2f}' for r in ratios)} (median {statistics.median(ratios):.2f})"


def _met(ratio: float) -> str:
    return "met" if ratio >= TARGET else "NOT met"


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
