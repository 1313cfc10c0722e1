"""The labelled corpora in ../shared/corpus/ and the scores we compute on them.

Shared by the benchmark and the development scorer so that both count the same
way: category accuracy per message, recipient address precision/recall over
(message, address) pairs, reason accuracy over the labelled recipients.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus"
SETS = ("bounces", "hand-labelled")


@dataclass
class Labelled:
    set_name: str
    file: str
    path: Path
    category: str
    recipients: list[dict]
    source: str = ""

    @property
    def addresses(self) -> set[str]:
        return {r["address"].lower() for r in self.recipients if r.get("address")}


def load(set_name: str, corpus: Path = CORPUS) -> list[Labelled]:
    folder = corpus / set_name
    items = []
    with (folder / "labels.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                items.append(
                    Labelled(set_name, row["file"], folder / row["file"], row["category"], row.get("recipients", []), row.get("source", ""))
                )
    return items


@dataclass
class Prediction:
    category: str
    addresses: list[str] = field(default_factory=list)
    #: address -> reason (Sisimai vocabulary)
    reasons: dict[str, str] = field(default_factory=dict)


@dataclass
class Score:
    n: int = 0
    correct: int = 0
    addr_tp: int = 0
    addr_fp: int = 0
    addr_fn: int = 0
    reason_n: int = 0
    reason_ok: int = 0
    confusion: Counter = field(default_factory=Counter)

    def add(self, truth: Labelled, pred: Prediction) -> None:
        self.n += 1
        self.correct += truth.category == pred.category
        self.confusion[(truth.category, pred.category)] += 1
        got = {a.lower() for a in pred.addresses}
        want = truth.addresses
        self.addr_tp += len(got & want)
        self.addr_fp += len(got - want)
        self.addr_fn += len(want - got)
        for rcpt in truth.recipients:
            if rcpt.get("reason"):
                self.reason_n += 1
                self.reason_ok += pred.reasons.get(rcpt["address"].lower()) == rcpt["reason"]

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0

    @property
    def addr_precision(self) -> float:
        total = self.addr_tp + self.addr_fp
        return self.addr_tp / total if total else 0.0

    @property
    def addr_recall(self) -> float:
        total = self.addr_tp + self.addr_fn
        return self.addr_tp / total if total else 0.0

    @property
    def reason_accuracy(self) -> float:
        return self.reason_ok / self.reason_n if self.reason_n else float("nan")

    def per_category(self) -> dict[str, tuple[float, float, float, int]]:
        """category -> (precision, recall, f1, support)."""
        labels = sorted({t for t, _ in self.confusion} | {p for _, p in self.confusion})
        out = {}
        for label in labels:
            tp = self.confusion[(label, label)]
            predicted = sum(v for (t, p), v in self.confusion.items() if p == label)
            support = sum(v for (t, p), v in self.confusion.items() if t == label)
            precision = tp / predicted if predicted else 0.0
            recall = tp / support if support else 0.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            out[label] = (precision, recall, f1, support)
        return out

    def macro_f1(self, labels: Iterable[str] | None = None) -> float:
        rows = self.per_category()
        wanted = [l for l in (labels or rows) if rows.get(l, (0, 0, 0, 0))[3] > 0]
        return sum(rows[l][2] for l in wanted) / len(wanted) if wanted else 0.0


def prediction_from_verdict(verdict) -> Prediction:
    return Prediction(
        category=verdict.category,
        addresses=[r.address for r in verdict.recipients],
        reasons={r.address.lower(): r.reason for r in verdict.recipients},
    )
