"""The learned per-recipient decision: a failed recipient's category and reason from its evidence.

Two linear heads read the same evidence columns
(:mod:`~responsemaster.classify.model.recipient_features`):

- the **category head** (the five bounce categories) learns from every
  recipient with a label: the corpus, corrections, hand labels that name
  only a category;
- the **reason head** (Sisimai's reason words) learns from the recipients
  whose label names a reason.

The category head decides the category; the reason is the reason head's
most probable reason *of that category* (its default when the head knows
none). Both are multinomial logistic regressions whose probabilities are
sharpened or softened by one temperature each, fitted on cross-validated
probabilities at training time (the same temperature scaling as the message
model; CalibratedClassifierCV's inner folds fail on reasons with one or
two examples). The category probability is the verdict's confidence: what
the pending-prune threshold compares.

Corrections are also remembered exactly: a person's label for a recipient is
stored under the evidence's :meth:`~Evidence.signature` (the normalised
words, codes and stage, not the address), so the same refusal for any other
address gets the person's verdict at once, whatever the linear heads make
of one example among hundreds.

Stored like the message model: each head as a skops pipeline (loaded only
through the trusted list) and compiled for prediction (``scorer.json`` +
``scorer.npy``: no pickle, no scikit-learn import when classifying), in
``models/<id>/recipient/{category,reason}/``, with ``memory.json`` and
``meta.json`` beside them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from responsemaster.categories import DEFAULT_REASON, Category, category_of
from responsemaster.classify.model.fastpath import FastScorer, probabilities
from responsemaster.classify.model.recipient_features import Evidence

FOLDER = "recipient"
HEADS = ("category", "reason")
MEMORY_FILE = "memory.json"
META_FILE = "meta.json"
#: Evidence whose probabilities a model remembers (then it forgets them all and starts again).
MEMO_EVIDENCE = 4096


@dataclass(frozen=True)
class RecipientDecision:
    category: str
    reason: str
    confidence: float
    #: ``rmodel:<id>``, or ``rmodel:<id>:correction`` when a remembered correction decided.
    decided_by: str


class SavedHeads(dict[str, FastScorer]):
    """Head name -> scorer, each read from ``<folder>/<head>/`` the first time it is asked for.

    Why: the reason head is read only for a recipient whose hand-written
    reason is not of the category the category head chose (``RecipientModel.predict``:
    165 of the 5,928 recipients of training_data/ and the corpus), and reading it (JSON and
    weights) was 7% of a one-file ``classify`` (88 M of its 1.33 G instructions).
    """

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder

    def __missing__(self, head: str) -> FastScorer:
        scorer = FastScorer.load(self.folder / head) if head in HEADS else None
        if scorer is None:
            raise KeyError(f"{self.folder / head}: no {head} head of this format")
        self[head] = scorer
        return scorer


@dataclass
class RecipientModel:
    """Two compiled heads, their temperatures and the remembered corrections."""

    model_id: str
    heads: dict[str, FastScorer]
    temperatures: dict[str, float] = field(default_factory=lambda: {"category": 1.0, "reason": 1.0})
    #: evidence signature -> (category, reason) a person gave.
    memory: dict[str, tuple[str, str]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    #: The fitted scikit-learn pipelines (training) or a loader for them (saved model).
    pipelines: dict[str, Any] = field(default_factory=dict, repr=False)
    reason_mode: str = "hand-first"
    #: (head, evidence columns) -> the head's probabilities, in the order of its classes: see :meth:`probabilities`.
    _memo: dict[tuple[str, tuple[str, ...]], tuple[float, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False)

    @property
    def name(self) -> str:
        return f"rmodel:{self.model_id}"

    def probabilities(self, head: str, columns: tuple[str, ...]) -> dict[str, float]:
        """Class -> probability for one recipient's evidence, remembered per evidence.

        Why remembered: the evidence is the normalised words (addresses, hosts,
        IPs and numbers folded) and the codes, so a returned-mail stream repeats
        it: one provider's refusal for many addresses. Scoring (the terms looked
        up, the weights summed) was a seventh of a bounce's instructions. 64% of
        the recipients of training_data/ and the corpus repeat an evidence seen
        before them. The answer is the same either way: a model is not changed
        once made (training builds a new one).
        """
        scorer = self.heads[head]
        key = (head, columns)
        found = self._memo.get(key)
        if found is None:
            if len(self._memo) >= MEMO_EVIDENCE:
                self._memo.clear()
            found = self._memo[key] = tuple(probabilities(scorer.margins(columns), self.temperatures.get(head, 1.0)))
        return dict(zip(scorer.classes, found))

    def predict(self, evidence: Evidence, hand_reason: str = "") -> RecipientDecision:
        """The category head's category; the hand-written reason when it agrees, else the reason head's."""
        remembered = self.memory.get(evidence.signature()) if self.memory else None
        if remembered is not None:
            return RecipientDecision(remembered[0], remembered[1], 1.0, f"{self.name}:correction")
        columns = evidence.columns()
        categories = self.probabilities("category", columns)
        category = max(categories, key=categories.__getitem__)
        if hand_reason and category_of(hand_reason) == category and self.reason_mode == "hand-first":
            reason = hand_reason
        else:
            reason = self.reason_in(category, columns)
        return RecipientDecision(category, reason, categories[category], self.name)

    def reason_in(self, category: str, columns: tuple[str, ...]) -> str:
        """The reason head's most probable reason among ``category``'s reasons."""
        reasons = {r: p for r, p in self.probabilities("reason", columns).items() if category_of(r) == category}
        if not reasons:
            return DEFAULT_REASON[Category(category)]
        return max(reasons, key=reasons.__getitem__)

    def save(self, model_dir: Path) -> Path:
        """Write ``model_dir/recipient/``; the fitted pipelines must be present."""
        import zipfile

        import skops.io as sio

        from responsemaster.classify.model.store import TRUSTED

        target = Path(model_dir) / FOLDER
        for head in HEADS:
            folder = target / head
            folder.mkdir(parents=True, exist_ok=True)
            sio.dump(self.pipelines[head], folder / "model.skops", compression=zipfile.ZIP_DEFLATED)
            untrusted = [t for t in sio.get_untrusted_types(file=folder / "model.skops") if t not in TRUSTED]
            if untrusted:
                raise RuntimeError(f"recipient model contains types missing from store.TRUSTED: {untrusted}")
            self.heads[head].save(folder, dtype="float32")  # half the size; margins equal to ~1e-6
        memory = [{"signature": s, "category": c, "reason": r} for s, (c, r) in sorted(self.memory.items())]
        (target / MEMORY_FILE).write_text(json.dumps(memory, ensure_ascii=False, indent=0) + "\n", "utf-8")
        meta = {**self.meta, "model_id": self.model_id, "temperatures": self.temperatures}
        (target / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False, sort_keys=True) + "\n", "utf-8")
        return target

    @classmethod
    def load(cls, model_dir: Path) -> "RecipientModel | None":
        """The recipient model saved in ``model_dir`` (None when it has none)."""
        from responsemaster.classify.model.store import RECIPIENT_MODEL_FILES

        if not all((Path(model_dir) / name).is_file() for name in RECIPIENT_MODEL_FILES):
            return None
        folder = Path(model_dir) / FOLDER
        heads = SavedHeads(folder)
        try:
            heads["category"]  # read now: nearly every failed recipient needs it (the reason head on demand)
        except KeyError:
            return None
        meta = json.loads((folder / META_FILE).read_text("utf-8"))
        memory_rows = json.loads((folder / MEMORY_FILE).read_text("utf-8")) if (folder / MEMORY_FILE).is_file() else []
        memory = {row["signature"]: (row["category"], row["reason"]) for row in memory_rows}
        return cls(model_id=Path(model_dir).name, heads=heads,
                   temperatures={k: float(v) for k, v in meta.get("temperatures", {}).items()},
                   memory=memory, meta=meta)
