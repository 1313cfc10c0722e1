"""Benchmark: ResponseMaster, Sisimai, flufl.bounce and a parse-only floor on the labelled corpus.

    python benchmarks/classify_bench.py [--set bounces|hand-labelled] [--extra-set DIR] [--mode M]
                                        [--repeat 5] [--folds 5] [--markdown FILE] [--misses]
    python benchmarks/classify_bench.py --whole-process 5000    # start-up included: see whole_process.py

One run, the same files for every tool, each set reported separately.

- ResponseMaster runs in-process, in four modes (``--mode``, default all):
  ``shipped`` (models/CURRENT: the corpus figure, not held out, since the
  shipped models trained on the corpus; its speed is the one reported),
  ``cv`` (message and recipient models trained without the fold, 5-fold
  stratified), ``group`` (trained without the *origin* of every message
  tested: the MTA family of a Sisimai sample, the project of a test file,
  the provider of a catalogue entry; the honest proxy for mail nobody here
  has seen) and ``rules`` (no models: detectors, rules, hand-written reading).
  Detectors and rules are hand-written, not trained, so they are never held
  out: their authors have read the corpus.
- Further labelled sets (``*.eml`` + ``labels.jsonl`` in the corpus format):
  every set under training_data/ (the provider catalogue, the bounce lab)
  by default, or ``--extra-set DIR``. A set the models train on is scored
  group-held-out and rules-only, never by models that saw it; its
  per-origin figures (per provider; per MTA for the bounce lab) are listed
  under its table. A bounce lab DSN is held out twice over: with the
  origin of its reply's words (the provider, or the corpus message the
  reply was taken from: the same words reach the lab through every MTA) and
  with its MTA (its recipient model is trained without any DSN that MTA
  wrote), so neither its words nor its MTA's format was seen in training.
- Sisimai (Debian's libsisimai-perl) runs in one Perl process per set
  (benchmarks/sisimai_driver.pl); its speed is measured inside Perl, so
  interpreter start-up is excluded (and reported separately). A message it
  returns no record for counts as ``user_reply`` (not a bounce).
- flufl.bounce: addresses only (it has no categories or reasons).
- parse-only: ``email.message_from_bytes`` over the same bytes: the floor.

Prune precision: of the labelled recipients a tool prunes at once (a hard
bounce; for ResponseMaster one whose confidence reaches the default
``[routing] prune_confidence``), the share that are hard bounces; "pending"
counts ResponseMaster's hard bounces held for a person instead.

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
    print_misses,
    SETS,
    Labelled,
    Prediction,
    Score,
    find_corpus,
    folds,
    group_folds,
    load,
    load_folder,
    prediction_from_sisimai,
    prediction_from_verdict,
)
from held_out import TRAINING_DATA, prepare_training, train_fold, train_recipient_fold

CATEGORIES = (
    "hard_bounce", "soft_bounce", "mailbox_full", "mail_block", "message_restriction", "delivery_status",
    "auto_reply", "challenge_response", "feedback_loop", "unsubscribe_request", "user_reply",
)
DRIVER = Path(__file__).resolve().parent / "sisimai_driver.pl"


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
    #: Per origin (provider; MTA for the bounce lab): filled for generated sets, where it says which
    #: MTA or provider the verdicts hold on.
    by_origin: dict[str, Score] = field(default_factory=dict)

    def add(self, item: Labelled, prediction: Prediction, generated: bool) -> None:
        self.score.add(item, prediction)
        if generated:
            self.by_origin.setdefault(item.mta or item.origin, Score()).add(item, prediction)
    #: Column heading in the per-category table (defaults to the tool's first word).
    short: str = ""

    @property
    def label(self) -> str:
        return self.short or self.tool.split()[0]

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


# --- ResponseMaster: the shipped models, and models trained without what they are tested on -------

#: How ResponseMaster is run: the shipped models (the corpus figure: they saw every corpus message),
#: stratified k-fold cross-validation, and folds grouped by origin (project, MTA family, provider).
MODES = ("shipped", "cv", "group", "rules")
MODE_NAMES = {
    "rules": "ResponseMaster, no models (detectors and hand-written rules)",
    "shipped": "ResponseMaster, shipped models (corpus: not held out)",
    "cv": "ResponseMaster, {k}-fold cross-validated",
    "group": "ResponseMaster, group-held-out ({k} folds by origin)",
}


#: Set by --misses: print every wrong category, reason or address of ResponseMaster.
MISSES = False


def run_responsemaster(items: list[Labelled], modes: list[str], k: int, repeat: int,
                       generated: set[str]) -> dict[str, dict[str, Result]]:
    """``results[mode][set]``. Sets the models train on (catalogue, lab) are scored only group-held-out or rules-only."""
    from responsemaster.classify import build_classifier
    from responsemaster.classify.model.fastpath import use_numpy
    from responsemaster.config import Settings

    use_numpy()  # as classify of many messages does
    sets = sorted({i.set_name for i in items}, key=lambda name: (name not in SETS, name))
    results: dict[str, dict[str, Result]] = {}
    data = prepare_training() if {"cv", "group"} & set(modes) else None
    for mode in modes:
        name = MODE_NAMES[mode].format(k=k)
        results[mode] = {s: Result(name, short=f"RM {mode}") for s in sets}
        settings = Settings()
        settings.classify.use_model = mode == "shipped"
        classifier = build_classifier(settings)
        # A set the models trained on is scored only where no model saw it: group folds, or no models at all.
        scored = [i for i in items if mode in ("group", "rules") or i.set_name not in generated]
        if mode in ("shipped", "rules"):
            parts = [scored]
        else:
            parts = group_folds(scored, k) if mode == "group" else folds(scored, k)
        for number, part in enumerate(parts, 1):
            recipient_models = {"": classifier.recipient_model}
            if mode not in ("shipped", "rules"):
                started = time.perf_counter()
                classifier.model, recipient_models[""] = train_fold(data, part, by_origin=mode == "group")
                if mode == "group":  # a lab DSN's recipient model has not seen its MTA's DSNs either
                    for mta in sorted({i.mta for i in part if i.mta}):
                        recipient_models[mta] = train_recipient_fold(data, part, True, {f"bouncelab:{mta}"})
                print(f"  {mode} fold {number}/{k}: {len(part)} held out, trained {len(recipient_models)} recipient "
                      f"models in {time.perf_counter() - started:.1f}s", file=sys.stderr)
            for item in part:
                classifier.recipient_model = recipient_models.get(item.mta, recipient_models[""])
                verdict = classifier.classify(item.path.read_bytes())
                prediction = prediction_from_verdict(verdict)
                results[mode][item.set_name].add(item, prediction, item.set_name in generated)
                if MISSES:
                    print_misses(item, prediction, verdict, prefix=f"MISS[{mode}] ")
        for set_name in sets:
            result = results[mode][set_name]
            result.note = {"rules": "no trained model: detectors, rules and the hand-written reading decide",
                           "shipped": f"models/CURRENT ({classifier.model.model_id if classifier.model else 'none'})"
                                      ": every corpus message was in its training data",
                           "cv": f"message and recipient models held out by {k}-fold stratified cross-validation",
                           "group": f"message and recipient models trained without the origin of every message "
                                    f"tested ({k} folds by project / MTA family / provider; a lab DSN also "
                                    f"without its MTA's DSNs)"}[mode]
            if mode in ("shipped", "rules"):
                classifier.recipient_model = recipient_models[""]
                raws = [i.path.read_bytes() for i in scored if i.set_name == set_name]
                result.add_time(len(raws) * repeat, timed_passes(classifier.classify, raws, repeat))
    return results


# --- the other tools ---------------------------------------------------------------------------


def run_sisimai(items: list[Labelled], repeat: int, generated: bool = False) -> Result:
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
        result.add(item, prediction_from_sisimai(by_file.get(str(item.path), {}).get("records", [])), generated)
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
          "bounce addr P", "bounce addr R", "reason acc", "prune P (n)", "pending")


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
            f"{pct(r.has_reasons, s.prune_precision)} ({s.prune_tp + s.prune_fp})" if r.has_reasons else "n/a",
            str(s.pending) if r.has_reasons and r.tool.startswith("ResponseMaster") else "n/a",
        ))
    return rows


def category_rows(results: list[Result]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    shown = [r for r in results if r.has_categories]
    header = ("category", "n", *(f"{r.label} {m}" for r in shown for m in ("P", "R")))
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


def _maybe_pct(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:.1f}%"


def origin_rows(results: list[Result]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """Per origin (an MTA of the bounce lab, a provider of the catalogue): category, reason, prune precision."""
    shown = [r for r in results if r.by_origin]
    first = "MTA" if any(i for i in shown[0].by_origin if ":" not in i) else "origin"
    header = (first, "n", *(f"{r.label} {m}" for r in shown for m in ("cat", "reason", "prune P (n)")))
    rows = []
    for origin in sorted(shown[0].by_origin):
        cells = []
        for result in shown:
            sc = result.by_origin.get(origin, Score())
            pending = f", {sc.pending} pending" if sc.pending else ""
            cells += [_maybe_pct(sc.accuracy if sc.n else math.nan), _maybe_pct(sc.reason_accuracy),
                      f"{_maybe_pct(sc.prune_precision)} ({sc.prune_tp + sc.prune_fp}{pending})"]
        rows.append((origin, str(shown[0].by_origin[origin].n), *cells))
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
        if not results:
            continue
        n = max(r.score.n for r in results)
        out.append(f"{'### ' if render is render_markdown else ''}{set_name}/ ({n} messages)\n")
        out.append(render(HEADER, rows_for(results)))
        out.append("")
        out.append(render(*category_rows(results)))
        out.append("")
        out += [f"- {r.tool}: {r.note}" for r in results if r.note]
        if any(r.by_origin for r in results):
            out += ["", render(*origin_rows(results)), ""]
        out += ["- wall-clock msg/s (pinned to CPU 0, shared with whatever else ran there): "
                + ", ".join(f"{r.label} {r.wall_rate:,.0f}" for r in results if r.wall_rate)]
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=SETS, action="append", help="corpus set (default: both)")
    parser.add_argument("--corpus", type=Path, default=None, help="default: $RESPONSEMASTER_CORPUS or ../shared/corpus")
    parser.add_argument("--extra-set", type=Path, action="append", default=None,
                        help="a further labelled set (*.eml + labels.jsonl in the corpus format), repeatable; "
                             "default: every labelled set under training_data/ (the provider catalogue, the bounce "
                             "lab). A set inside training_data/ is trained on, so it is scored group-held-out only.")
    parser.add_argument("--no-extra-sets", action="store_true", help="only the corpus sets")
    parser.add_argument("--mode", choices=MODES, action="append",
                        help="shipped | cv | group | rules (no models); default: all four")
    parser.add_argument("--repeat", type=int, default=5, help="timed passes over the files (default 5)")
    parser.add_argument("--folds", type=int, default=5, help="folds for cv and group (default 5)")
    parser.add_argument("--no-model", action="store_true", help="same as --mode rules")
    parser.add_argument("--no-peers", action="store_true", help="ResponseMaster only (no Sisimai, flufl.bounce)")
    parser.add_argument("--markdown", type=Path, help="also write the tables as markdown to this file")
    parser.add_argument("--misses", action="store_true", help="print ResponseMaster's misses (stderr)")
    parser.add_argument("--whole-process", type=int, metavar="N", default=0,
                        help="instead: N bounces classified by whole processes, start-up included (whole_process.py)")
    args = parser.parse_args(argv)
    if args.whole_process:  # its own section: commands timed from outside, against Sisimai and the parse floor
        import whole_process

        whole_process.main([f"--messages={args.whole_process}"] + ([f"--markdown={args.markdown}"] if args.markdown else []))
        return
    global MISSES
    MISSES = args.misses
    corpus = args.corpus or find_corpus()
    items = {s: load(s, corpus) for s in args.set or list(SETS)}
    generated: set[str] = set()
    if not args.no_extra_sets:
        from responsemaster.classify.model.dataset import labelled_sets

        for folder in args.extra_set if args.extra_set is not None else labelled_sets(TRAINING_DATA):
            items[folder.name] = load_folder(folder)
            if folder.resolve().is_relative_to(TRAINING_DATA.resolve()):
                generated.add(folder.name)
    modes = ["rules"] if args.no_model else (args.mode or list(MODES))
    print(f"ResponseMaster: {', '.join(modes)}...", file=sys.stderr)
    ours = run_responsemaster([i for s in items for i in items[s]], modes, args.folds, args.repeat, generated)
    by_set = {}
    for set_name, set_items in items.items():
        rows = [ours[mode][set_name] for mode in modes if mode in ours and ours[mode][set_name].score.n]
        if not args.no_peers:
            print(f"{set_name}: Sisimai, flufl.bounce, parse-only...", file=sys.stderr)
            rows += [run_sisimai(set_items, args.repeat, set_name in generated), run_flufl(set_items, args.repeat),
                     run_parse_only(set_items, args.repeat)]
        by_set[set_name] = rows
    print(report(by_set, render_text))
    if args.markdown:
        args.markdown.write_text(report(by_set, render_markdown), encoding="utf-8")
        print(f"markdown written to {args.markdown}", file=sys.stderr)


if __name__ == "__main__":
    main()
