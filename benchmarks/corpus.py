"""The labelled corpora in ../shared/corpus/ and the scores we compute on them.

Shared by the benchmark and the development scorer so that both count the same
way: category accuracy per message, recipient address precision/recall over
(message, address) pairs, reason accuracy over the labelled recipients, and
prune precision: of the labelled recipients a tool would prune at once (a
hard bounce, and for ResponseMaster confident enough not to wait for a
person), how many truly are hard bounces.

Besides the two corpus sets, any folder in the corpus format (``*.eml`` +
``labels.jsonl`` with file, category, recipients, source) is a set:
``load_folder`` reads it (the provider catalogue, the bounce lab).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SETS = ("bounces", "hand-labelled")
def _default_prune_confidence() -> float:
    from responsemaster.routing.config import RoutingConfig

    return RoutingConfig().prune_confidence


#: Below this confidence a hard bounce waits for a person (routing's default pending-prune threshold).
PRUNE_CONFIDENCE = _default_prune_confidence()
#: The categories whose labels name failed recipients (hand-labelled/ labels no
#: recipients for complaints, receipts and replies; bounces/ does, from Sisimai).
BOUNCE_CATEGORIES = frozenset({"hard_bounce", "soft_bounce", "mailbox_full", "mail_block", "message_restriction"})


def find_corpus() -> Path:
    """``$RESPONSEMASTER_CORPUS``, else ``<repo>/../shared/corpus``."""
    env = os.environ.get("RESPONSEMASTER_CORPUS")
    return Path(env) if env else REPO.parent / "shared" / "corpus"


CORPUS = find_corpus()

#: Sisimai's reasons -> our categories: the table of docs/categories.md, kept here
#: (not imported from the classifier under test) so the scoring of the other
#: tools cannot drift with it.
SISIMAI_CATEGORY: dict[str, str] = {
    **dict.fromkeys(("userunknown", "hostunknown", "hasmoved", "notaccept"), "hard_bounce"),
    **dict.fromkeys(
        ("expired", "networkerror", "systemerror", "systemfull", "mailererror", "suspend", "onhold",
         "undefined", "syntaxerror"),
        "soft_bounce",
    ),
    "mailboxfull": "mailbox_full",
    **dict.fromkeys(
        ("blocked", "badreputation", "authfailure", "requireptr", "norelaying", "ratelimited", "speeding",
         "toomanyconn", "spamdetected", "securityerror", "failedstarttls", "rejected", "filtered"),
        "mail_block",
    ),
    **dict.fromkeys(
        ("mesgtoobig", "exceedlimit", "contenterror", "virusdetected", "policyviolation", "notcompliantrfc"),
        "message_restriction",
    ),
    "delivered": "delivery_status",
    "vacation": "auto_reply",
    "feedback": "feedback_loop",
}
#: What a message Sisimai returns no record for counts as: it is "not a
#: bounce", and the likeliest thing a non-bounce is, is a person's reply.
SISIMAI_NO_VERDICT = "user_reply"


@dataclass
class Labelled:
    set_name: str
    file: str
    path: Path
    category: str
    recipients: list[dict]
    source: str = ""
    provenance: str = ""

    @property
    def origin(self) -> str:
        """The group this message is held out with (see responsemaster.classify.model.dataset.origin)."""
        from responsemaster.classify.model.dataset import origin

        return origin(self.source) or f"{self.set_name}:{self.file}"

    @property
    def addresses(self) -> set[str]:
        return {r["address"].lower() for r in self.recipients if r.get("address")}


def load(set_name: str, corpus: Path | None = None) -> list[Labelled]:
    return load_folder((corpus or CORPUS) / set_name)


def load_folder(folder: Path) -> list[Labelled]:
    """A labelled set in the corpus format; its name is the folder's."""
    set_name = folder.name
    items = []
    with (folder / "labels.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                items.append(
                    Labelled(set_name, row["file"], folder / row["file"], row["category"], row.get("recipients", []),
                             row.get("source", ""), row.get("provenance", ""))
                )
    return items


@dataclass
class Prediction:
    category: str
    addresses: list[str] = field(default_factory=list)
    #: address -> reason (Sisimai vocabulary)
    reasons: dict[str, str] = field(default_factory=dict)
    #: address -> whether the tool prunes it at once (a confident hard bounce)
    prunes: dict[str, bool] = field(default_factory=dict)
    #: address -> a hard bounce held for a person (below the confidence threshold)
    pending: dict[str, bool] = field(default_factory=dict)


@dataclass
class Score:
    n: int = 0
    correct: int = 0
    addr_tp: int = 0
    addr_fp: int = 0
    addr_fn: int = 0
    #: The same, counted only on messages labelled as bounces: their failed recipients.
    bounce_addr_tp: int = 0
    bounce_addr_fp: int = 0
    bounce_addr_fn: int = 0
    reason_n: int = 0
    reason_ok: int = 0
    #: Labelled recipients pruned at once that are / are not hard bounces; hard bounces held for a person.
    prune_tp: int = 0
    prune_fp: int = 0
    pending: int = 0
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
        if truth.category in BOUNCE_CATEGORIES:
            self.bounce_addr_tp += len(got & want)
            self.bounce_addr_fp += len(got - want)
            self.bounce_addr_fn += len(want - got)
        for rcpt in truth.recipients:
            address = rcpt["address"].lower()
            if rcpt.get("reason"):
                self.reason_n += 1
                self.reason_ok += pred.reasons.get(address) == rcpt["reason"]
            if pred.prunes.get(address):
                if rcpt.get("category") == "hard_bounce":
                    self.prune_tp += 1
                else:
                    self.prune_fp += 1
            self.pending += bool(pred.pending.get(address))

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
    def bounce_addr_precision(self) -> float:
        total = self.bounce_addr_tp + self.bounce_addr_fp
        return self.bounce_addr_tp / total if total else 0.0

    @property
    def bounce_addr_recall(self) -> float:
        total = self.bounce_addr_tp + self.bounce_addr_fn
        return self.bounce_addr_tp / total if total else 0.0

    @property
    def prune_precision(self) -> float:
        total = self.prune_tp + self.prune_fp
        return self.prune_tp / total if total else float("nan")

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


def prediction_from_verdict(verdict, prune_confidence: float = PRUNE_CONFIDENCE) -> Prediction:
    """What ``responsemaster classify --jsonl`` prints for the message (docs/categories.md)."""
    recipients = verdict.to_json()["recipients"]
    hard = [r for r in recipients if r["category"] == "hard_bounce"]
    return Prediction(
        category=verdict.category,
        addresses=[r["address"] for r in recipients],
        reasons={r["address"].lower(): r["reason"] for r in recipients},
        prunes={r["address"].lower(): r["confidence"] >= prune_confidence for r in hard},
        pending={r["address"].lower(): r["confidence"] < prune_confidence for r in hard},
    )


def prediction_from_sisimai(records: list[dict]) -> Prediction:
    """Sisimai's records for one message (sisimai_driver.pl output) as a prediction.

    The category is the first record's (docs/categories.md: a message reporting several
    recipients takes the category of the first one reported).
    """
    if not records:
        return Prediction(category=SISIMAI_NO_VERDICT)
    first = records[0].get("reason", "")
    with_address = [r for r in records if r.get("address")]
    return Prediction(
        category=SISIMAI_CATEGORY.get(first, "soft_bounce"),
        addresses=[r["address"] for r in with_address],
        reasons={r["address"].lower(): r.get("reason", "") for r in with_address},
        prunes={r["address"].lower(): SISIMAI_CATEGORY.get(r.get("reason", "")) == "hard_bounce" for r in with_address},
    )


def folds(items: list[Labelled], k: int) -> list[list[Labelled]]:
    """``k`` disjoint folds, stratified by (set, category), stable across runs and machines.

    Items are ordered by a hash of their file name inside each stratum and
    dealt round-robin, so every fold sees every category where it can.
    """
    strata: dict[tuple[str, str], list[Labelled]] = {}
    for item in items:
        strata.setdefault((item.set_name, item.category), []).append(item)
    out: list[list[Labelled]] = [[] for _ in range(k)]
    turn = 0
    for key in sorted(strata):
        for item in sorted(strata[key], key=lambda i: hashlib.sha256(i.file.encode()).hexdigest()):
            out[turn % k].append(item)
            turn += 1
    return out


def group_folds(items: list[Labelled], k: int) -> list[list[Labelled]]:
    """``k`` disjoint folds in which every origin (project, MTA family, provider) sits whole.

    Origins are dealt largest first to the fold with the fewest messages so
    far (ties broken by name), so the folds are the same on every machine.
    """
    by_origin: dict[str, list[Labelled]] = {}
    for item in items:
        by_origin.setdefault(item.origin, []).append(item)
    out: list[list[Labelled]] = [[] for _ in range(k)]
    for origin in sorted(by_origin, key=lambda o: (-len(by_origin[o]), o)):
        smallest = min(range(k), key=lambda i: (len(out[i]), i))
        out[smallest].extend(by_origin[origin])
    return out


def training_name(item: Labelled) -> str:
    """The name a corpus message has in training_data/ (``<set>--<file>``)."""
    return f"{item.set_name}--{item.file}"


def print_misses(item: Labelled, pred: Prediction, verdict, prefix: str = "MISS ") -> None:
    """One line per message whose category, reasons or addresses are wrong (to stderr)."""
    import sys

    problems = []
    if pred.category != item.category:
        problems.append(f"category {item.category} -> {pred.category}")
    got = {a.lower() for a in pred.addresses}
    if got != item.addresses:
        problems.append(f"addresses want {sorted(item.addresses)} got {sorted(got)}")
    for rcpt in item.recipients:
        want, have = rcpt.get("reason"), pred.reasons.get(rcpt["address"].lower())
        if want and have != want:
            problems.append(f"reason {rcpt['address']}: {want} -> {have}")
    if problems:
        print(f"{prefix}{item.set_name}/{item.file} [{item.source}] by={verdict.decided_by}: " + "; ".join(problems),
              file=sys.stderr)
