"""Benchmark: ResponseMaster, Sisimai, flufl.bounce and a parse-only floor on the labelled corpus.

    python benchmarks/classify_bench.py [--set bounces|hand-labelled] [--repeat 5] [--folds 5]
                                        [--no-model] [--markdown docs/benchmarks-table.md]
    python benchmarks/classify_bench.py --whole-process 5000    # start-up included: see whole_process.py

One run, the same files for every tool, each corpus set reported separately.

- ResponseMaster runs in-process. Its trained model is held out by k-fold
  cross-validation over the corpus: for each fold a model is trained on
  training_data/ minus that fold's corpus messages (training files are named
  ``<set>--<corpus file>``), and the fold is classified with it. Detectors
  and rules are hand-written and are not trained, so they are not held out.
- Sisimai (Debian's libsisimai-perl) runs in one Perl process per set
  (benchmarks/sisimai_driver.pl); its speed is measured inside Perl, so
  interpreter start-up is excluded (and reported separately). A message it
  returns no record for counts as ``user_reply`` (not a bounce).
- flufl.bounce: addresses only (it has no categories or reasons).
- parse-only: ``email.message_from_bytes`` over the same bytes: the floor.

Throughput is for classification only (no training, no file reading): one
untimed answer pass (which also warms caches), then ``--repeat`` timed
passes, pinned to one core (CPU 0), counted in messages per CPU-second of
the process (so other load on the machine does not count against a tool;
wall-clock rates are printed below each table).
"""

from __future__ import annotations

import argparse
import contextlib
import email
import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import (
    REPO,
    SETS,
    Labelled,
    Prediction,
    Score,
    find_corpus,
    folds,
    load,
    prediction_from_sisimai,
    prediction_from_verdict,
    training_name,
)

CATEGORIES = (
    "hard_bounce", "soft_bounce", "mailbox_full", "mail_block", "message_restriction", "delivery_status",
    "auto_reply", "challenge_response", "feedback_loop", "unsubscribe_request", "user_reply",
)
DRIVER = Path(__file__).resolve().parent / "sisimai_driver.pl"
TRAINING_DATA = REPO / "training_data"


@dataclass
class Result:
    tool: str
    score: Score = field(default_factory=Score)
    messages: int = 0
    #: wall-clock and process CPU time of the timed passes
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    has_categories: bool = True
    has_addresses: bool = True
    has_reasons: bool = True
    note: str = ""

    @property
    def rate(self) -> float:
        """Messages per CPU-second: what one core does, whatever else the machine runs."""
        return self.messages / self.cpu_seconds if self.cpu_seconds else 0.0

    @property
    def wall_rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0

    def add_time(self, messages: int, wall_cpu: tuple[float, float]) -> None:
        self.messages += messages
        self.seconds += wall_cpu[0]
        self.cpu_seconds += wall_cpu[1]


@contextlib.contextmanager
def one_core() -> Iterator[None]:
    """Pin this process to CPU 0 for the timed part."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def timed_passes(work: Callable[[bytes], object], raws: list[bytes], repeat: int) -> tuple[float, float]:
    """Wall-clock and process CPU seconds of ``repeat`` passes of ``work`` over ``raws``."""
    with one_core():
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(repeat):
            for raw in raws:
                work(raw)
        return time.perf_counter() - wall, time.process_time() - cpu


# --- ResponseMaster, cross-validated ---------------------------------------------------------


_LEMMAS: dict = {}


def train_fold_model(held_out: list[Labelled]):
    """A model trained on training_data/ without the ``held_out`` corpus messages.

    The only place that knows the model package's training API; returns
    ``(model, note)``, where a None model means "run without one" and the
    note says why. Also checks that no training message has the bytes of a
    held-out one (the same message copied under another name).
    """
    import hashlib
    import importlib

    try:
        training = importlib.import_module("responsemaster.classify.model.training")
    except ModuleNotFoundError as exc:
        if exc.name != "responsemaster.classify.model.training":
            raise
        return None, "no model: responsemaster.classify.model.training does not exist yet"
    if not hasattr(training, "train_model") or not hasattr(training, "load_examples"):
        return None, "no model: responsemaster.classify.model.training has no load_examples/train_model yet"
    examples = training.load_examples(TRAINING_DATA, exclude={training_name(i) for i in held_out})
    held = {hashlib.sha256(i.path.read_bytes()).hexdigest() for i in held_out}
    leaked = [e.path.name for e in examples if e.sha256 in held]
    if leaked:
        raise SystemExit(f"held-out messages found in the training data under other names: {leaked[:5]}")
    if "tables" not in _LEMMAS:
        _LEMMAS["tables"] = training.full_lemma_tables()
    return training.train_model(examples, lemma_tables=_LEMMAS["tables"]), ""


def run_responsemaster(items: list[Labelled], k: int, repeat: int, use_model: bool) -> dict[str, Result]:
    from responsemaster.classify import build_classifier
    from responsemaster.config import Settings

    settings = Settings()
    settings.classify.use_model = False  # never the shipped model: it saw every corpus message
    classifier = build_classifier(settings)
    results = {s: Result("ResponseMaster") for s in SETS}
    notes = []
    for number, fold in enumerate(folds(items, k) if use_model else [items], 1):
        if use_model:
            started = time.perf_counter()
            classifier.model, note = train_fold_model(fold)
            notes.append(note)
            print(f"  fold {number}/{k}: {len(fold)} held out, trained in {time.perf_counter() - started:.1f}s "
                  f"{note}", file=sys.stderr)
        for set_name in SETS:
            subset = [i for i in fold if i.set_name == set_name]
            raws = [i.path.read_bytes() for i in subset]
            for item, raw in zip(subset, raws):
                results[set_name].score.add(item, prediction_from_verdict(classifier.classify(raw)))
            results[set_name].add_time(len(raws) * repeat, timed_passes(classifier.classify, raws, repeat))
    note = next((n for n in notes if n), "")
    if not use_model:
        note = "no model (--no-model): detectors and rules only"
    elif not note:
        note = f"model held out by {k}-fold cross-validation"
    for result in results.values():
        result.note = note
    return results


# --- the other tools ---------------------------------------------------------------------------


def run_sisimai(items: list[Labelled], repeat: int) -> Result:
    result = Result("Sisimai " + _sisimai_version(), has_addresses=True)
    if not shutil.which("perl"):
        result.note = "perl not installed"
        return result
    cmd = ["perl", str(DRIVER), "--repeat", str(repeat)]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", "0", *cmd]
    paths = "".join(f"{i.path}\n" for i in items)
    started = time.perf_counter()
    proc = subprocess.run(cmd, input=paths, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        result.note = f"driver failed: {proc.stderr.strip()[-300:]}"
        return result
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    summary = lines.pop()
    by_file = {line["file"]: line for line in lines}
    for item in items:
        result.score.add(item, prediction_from_sisimai(by_file.get(str(item.path), {}).get("records", [])))
    result.add_time(summary["messages"] * summary["repeat"], (summary["seconds"], summary["cpu_seconds"]))
    whole = summary["messages"] * (summary["repeat"] + 1) / wall if wall else 0.0
    result.note = f"{whole:,.0f} msg/s wall-clock including Perl start-up, module loading and the answer pass"
    return result


def _sisimai_version() -> str:
    try:
        out = subprocess.run(["perl", "-MSisimai", "-e", "print $Sisimai::VERSION"], capture_output=True,
                             text=True, check=False, timeout=60)
        return out.stdout.strip() or "(not installed)"
    except OSError:
        return "(not installed)"


def run_flufl(items: list[Labelled], repeat: int) -> Result:
    from flufl.bounce import all_failures

    def scan(raw: bytes) -> list[str]:
        try:
            temporary, permanent = all_failures(email.message_from_bytes(raw))
        except Exception:  # noqa: BLE001 - a detector crash is a miss, not a benchmark failure
            return []
        found = set(temporary) | set(permanent)
        return [a.decode("utf-8", "replace") if isinstance(a, bytes) else str(a) for a in found]

    result = Result(f"flufl.bounce {metadata.version('flufl.bounce')}", has_categories=False, has_reasons=False)
    raws = [i.path.read_bytes() for i in items]
    for item, raw in zip(items, raws):
        result.score.add(item, Prediction(category="", addresses=scan(raw)))
    result.add_time(len(raws) * repeat, timed_passes(scan, raws, repeat))
    return result


def run_parse_only(items: list[Labelled], repeat: int) -> Result:
    result = Result("parse-only (email.message_from_bytes)", has_categories=False, has_addresses=False,
                    has_reasons=False)
    raws = [i.path.read_bytes() for i in items]
    email.message_from_bytes(raws[0]) if raws else None
    result.add_time(len(raws) * repeat, timed_passes(email.message_from_bytes, raws, repeat))
    return result


# --- the table ---------------------------------------------------------------------------------

HEADER = ("tool", "msg/CPU-s", "x Sisimai", "x parse-only", "category acc", "macro-F1", "addr P", "addr R",
          "bounce addr P", "bounce addr R", "reason acc")


def rows_for(results: list[Result]) -> list[tuple[str, ...]]:
    sisimai = next((r for r in results if r.tool.startswith("Sisimai")), None)
    floor = next((r for r in results if r.tool.startswith("parse-only")), None)

    def pct(ok: bool, value: float) -> str:
        return f"{100 * value:.1f}%" if ok and not math.isnan(value) else "n/a"

    rows = []
    for r in results:
        s = r.score
        rows.append((
            r.tool,
            f"{r.rate:,.0f}" if r.rate else "n/a",
            f"{r.rate / sisimai.rate:.2f}" if sisimai and sisimai.rate and r.rate else "n/a",
            f"{r.rate / floor.rate:.3f}" if floor and floor.rate and r.rate else "n/a",
            pct(r.has_categories, s.accuracy),
            f"{s.macro_f1(CATEGORIES):.3f}" if r.has_categories else "n/a",
            pct(r.has_addresses, s.addr_precision),
            pct(r.has_addresses, s.addr_recall),
            pct(r.has_addresses, s.bounce_addr_precision),
            pct(r.has_addresses, s.bounce_addr_recall),
            pct(r.has_reasons, s.reason_accuracy),
        ))
    return rows


def category_rows(results: list[Result]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    shown = [r for r in results if r.has_categories]
    header = ("category", "n", *(f"{r.tool.split()[0]} {m}" for r in shown for m in ("P", "R")))
    tables = [r.score.per_category() for r in shown]
    rows = []
    for category in CATEGORIES:
        support = next((t[category][3] for t in tables if category in t), 0)
        cells = []
        for result, table in zip(shown, tables):
            p, rcl, _, _ = table.get(category, (0.0, 0.0, 0.0, 0))
            predicted = any(pred == category for (_, pred) in result.score.confusion)
            cells += [f"{p:.2f}" if predicted else "-", f"{rcl:.2f}" if support else "-"]
        rows.append((category, str(support), *cells))
    return header, rows


def render_text(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    def fmt(row: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))

    return "\n".join([fmt(header), fmt(tuple("-" * w for w in widths)), *map(fmt, rows)])


def render_markdown(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def report(by_set: dict[str, list[Result]], render: Callable) -> str:
    out = []
    for set_name, results in by_set.items():
        n = results[0].score.n
        out.append(f"{'### ' if render is render_markdown else ''}{set_name}/ ({n} messages)\n")
        out.append(render(HEADER, rows_for(results)))
        out.append("")
        out.append(render(*category_rows(results)))
        out.append("")
        out += [f"- {r.tool}: {r.note}" for r in results if r.note]
        out += ["- wall-clock msg/s (pinned to CPU 0, shared with whatever else ran there): "
                + ", ".join(f"{r.tool.split()[0]} {r.wall_rate:,.0f}" for r in results)]
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=SETS, action="append", help="corpus set (default: both)")
    parser.add_argument("--corpus", type=Path, default=None, help="default: $RESPONSEMASTER_CORPUS or ../shared/corpus")
    parser.add_argument("--repeat", type=int, default=5, help="timed passes over the files (default 5)")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds for the model (default 5)")
    parser.add_argument("--no-model", action="store_true", help="ResponseMaster without a model")
    parser.add_argument("--markdown", type=Path, help="also write the tables as markdown to this file")
    parser.add_argument("--whole-process", type=int, metavar="N", default=0,
                        help="instead: N bounces classified by whole processes, start-up included (whole_process.py)")
    args = parser.parse_args(argv)
    if args.whole_process:  # its own section: commands timed from outside, against Sisimai and the parse floor
        import whole_process

        whole_process.main([f"--messages={args.whole_process}"] + ([f"--markdown={args.markdown}"] if args.markdown else []))
        return
    corpus = args.corpus or find_corpus()
    sets = args.set or list(SETS)
    items = {s: load(s, corpus) for s in sets}
    print(f"ResponseMaster: {args.folds}-fold cross-validation..." if not args.no_model else "ResponseMaster...",
          file=sys.stderr)
    ours = run_responsemaster([i for s in sets for i in items[s]], args.folds, args.repeat, not args.no_model)
    by_set = {}
    for set_name in sets:
        print(f"{set_name}: Sisimai, flufl.bounce, parse-only...", file=sys.stderr)
        by_set[set_name] = [
            ours[set_name],
            run_sisimai(items[set_name], args.repeat),
            run_flufl(items[set_name], args.repeat),
            run_parse_only(items[set_name], args.repeat),
        ]
    print(report(by_set, render_text))
    if args.markdown:
        args.markdown.write_text(report(by_set, render_markdown), encoding="utf-8")
        print(f"markdown written to {args.markdown}", file=sys.stderr)


if __name__ == "__main__":
    main()
