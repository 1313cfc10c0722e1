"""Accuracy on the bounce lab's DSNs, per MTA: ResponseMaster beside Sisimai 4.25.

    python -m benchmarks.bouncelab score [--set training_data/lab] [--no-sisimai] [--no-model]
                                         [--confusions 15] [--markdown FILE]

For each MTA (and Dovecot's refusals, reported through the MTA that relayed
them) and overall: message category accuracy, recipient reason accuracy,
address precision/recall, and prune precision: of the recipients a tool
reads as hard bounces (the ones a list would delete at once), how many the
lab made hard (userunknown, hostunknown, hasmoved, notaccept). ResponseMaster
runs in-process through the Classifier API (what ``responsemaster classify
--jsonl`` prints); Sisimai through benchmarks/sisimai_driver.pl, as in
benchmarks/classify_bench.py. ``--confusions`` lists the commonest
(true reason -> read as) errors of each tool: the patterns worth fixing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCH))

from corpus import (  # noqa: E402
    SISIMAI_CATEGORY,
    Labelled,
    Prediction,
    Score,
    load,
    prediction_from_sisimai,
    prediction_from_verdict,
)

REPO = BENCH.parent
DEFAULT_SET = REPO / "training_data" / "lab"
DRIVER = BENCH / "sisimai_driver.pl"
HARD = frozenset({"userunknown", "hostunknown", "hasmoved", "notaccept"})


@dataclass
class LabScore(Score):
    """The corpus Score plus prune precision/recall and reason confusions."""

    pruned: int = 0
    pruned_right: int = 0
    hard_total: int = 0
    reason_confusion: Counter = field(default_factory=Counter)

    def add_lab(self, truth: Labelled, pred: Prediction, hard_of: dict[str, bool]) -> None:
        self.add(truth, pred)
        truly = {r["address"].lower(): r.get("category") == "hard_bounce" for r in truth.recipients}
        self.hard_total += sum(truly.values())
        for address, hard in hard_of.items():
            if hard:
                self.pruned += 1
                self.pruned_right += truly.get(address, False)
        for rcpt in truth.recipients:
            got = pred.reasons.get(rcpt["address"].lower(), "(none)")
            if got != rcpt["reason"]:
                self.reason_confusion[(rcpt["reason"], got)] += 1

    @property
    def prune_precision(self) -> float:
        return self.pruned_right / self.pruned if self.pruned else float("nan")

    @property
    def prune_recall(self) -> float:
        return self.pruned_right / self.hard_total if self.hard_total else float("nan")


def ours(items: list[Labelled], use_model: bool) -> list[tuple[Prediction, dict[str, bool]]]:
    from responsemaster.classify import build_classifier
    from responsemaster.config import Settings

    settings = Settings()
    settings.classify.use_model = use_model
    classifier = build_classifier(settings)
    out = []
    for item in items:
        verdict = classifier.classify(item.path.read_bytes())
        recipients = verdict.to_json()["recipients"]
        out.append((prediction_from_verdict(verdict),
                    {r["address"].lower(): r.get("category") == "hard_bounce" for r in recipients}))
    return out


def sisimai(items: list[Labelled]) -> list[tuple[Prediction, dict[str, bool]]]:
    paths = "\n".join(str(i.path) for i in items) + "\n"
    run = subprocess.run(["perl", str(DRIVER)], input=paths, capture_output=True, text=True, timeout=3600,
                         check=False)
    if run.returncode != 0:
        raise SystemExit(f"sisimai driver failed: {run.stderr.strip()[-500:]}")
    by_file = {}
    for line in run.stdout.splitlines():
        row = json.loads(line)
        if "file" in row:
            by_file[row["file"]] = row.get("records", [])
    out = []
    for item in items:
        records = by_file.get(str(item.path), [])
        hard = {r["address"].lower(): SISIMAI_CATEGORY.get(r.get("reason", ""), "soft_bounce") == "hard_bounce"
                for r in records if r.get("address")}
        out.append((prediction_from_sisimai(records), hard))
    return out


def group_of(item: Labelled) -> str:
    return item.source.split(":", 1)[-1] or "?"


def table(scores: dict[str, dict[str, LabScore]], tools: list[str]) -> str:
    head = "| MTA | DSNs | " + " | ".join(
        f"{what} ({tool})" for what in ("category", "reason", "address P / R", "prune precision") for tool in tools
    ) + " |"
    lines = [head, "|" + "---|" * (2 + 4 * len(tools))]
    for group in [*sorted(g for g in scores[tools[0]] if g != "all"), "all"]:
        cells = [f"**{group}**" if group == "all" else group, str(scores[tools[0]][group].n)]
        for metric in ("category", "reason", "address", "prune"):
            for tool in tools:
                s = scores[tool][group]
                if metric == "category":
                    cells.append(f"{s.accuracy:.1%}")
                elif metric == "reason":
                    cells.append(f"{s.reason_accuracy:.1%}")
                elif metric == "address":
                    cells.append(f"{s.addr_precision:.1%} / {s.addr_recall:.1%}")
                else:
                    cells.append(f"{s.prune_precision:.1%} ({s.pruned_right}/{s.pruned})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", type=Path, default=DEFAULT_SET)
    parser.add_argument("--no-sisimai", action="store_true")
    parser.add_argument("--no-model", action="store_true", help="ResponseMaster without its trained model")
    parser.add_argument("--confusions", type=int, default=12)
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args(argv)
    folder = args.set.resolve()
    items = load(folder.name, folder.parent)
    if not items:
        raise SystemExit(f"no labelled DSNs in {folder}")
    runs = {"ResponseMaster": ours(items, not args.no_model)}
    if not args.no_sisimai:
        runs["Sisimai 4.25"] = sisimai(items)
    scores: dict[str, dict[str, LabScore]] = {}
    for tool, predictions in runs.items():
        per = defaultdict(LabScore)
        for item, (pred, hard) in zip(items, predictions):
            per[group_of(item)].add_lab(item, pred, hard)
            per["all"].add_lab(item, pred, hard)
        scores[tool] = dict(per)
    text = table(scores, list(runs))
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    for tool in runs:
        common = scores[tool]["all"].reason_confusion.most_common(args.confusions)
        print(f"\n{tool}: commonest reason errors (label -> read as): " +
              "; ".join(f"{a} -> {b} x{n}" for (a, b), n in common))
    return 0


if __name__ == "__main__":
    sys.exit(main())
