"""The shipped models under test: the corpus through the default pipeline, with ``models/CURRENT``.

Every other test builds its classifier without a model; this one loads what
``responsemaster classify`` loads (the message model and the recipient
model of ``models/CURRENT``) and fails when the corpus figures fall below
floors. The floors are the group-held-out figures of ``docs/benchmarks.md``
(models trained without the origin of the mail they are tested on) minus a
small margin: the shipped models saw the corpus, so they must do at least as
well as models that did not. A model answering one constant category, or a
recipient model that lost its way, falls far below them: the last test
checks that, so the gate cannot silently stop gating.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from responsemaster.classify import build_classifier
from responsemaster.classify.fields import message_fields
from responsemaster.classify.model.recipient_model import RecipientDecision
from responsemaster.classify.pipeline import Classifier
from responsemaster.config import Settings
from responsemaster.parse.message import parse_message

BOUNCES = frozenset({"hard_bounce", "soft_bounce", "mailbox_full", "mail_block", "message_restriction"})
#: Group-held-out figures (docs/benchmarks.md) minus a margin of about two points.
FLOORS = {
    "bounces": {"category": 0.92, "reason": 0.87, "bounce_addr_p": 0.98, "bounce_addr_r": 0.98},
    "hand-labelled": {"category": 0.95, "bounce_addr_p": 0.98, "bounce_addr_r": 0.98},
}
#: The message model alone on every corpus message, no structure or rules in front of it: its
#: cross-validated accuracy (``responsemaster evaluate``: 0.76 over eleven categories) minus a margin.
MESSAGE_MODEL_FLOOR = 0.70


@dataclass
class Figures:
    n: int = 0
    category_ok: int = 0
    reason_n: int = 0
    reason_ok: int = 0
    addr_tp: int = 0
    addr_fp: int = 0
    addr_fn: int = 0
    model_n: int = 0
    model_ok: int = 0

    def rates(self) -> dict[str, float]:
        return {
            "category": self.category_ok / self.n,
            "reason": self.reason_ok / self.reason_n if self.reason_n else 1.0,
            "bounce_addr_p": self.addr_tp / max(1, self.addr_tp + self.addr_fp),
            "bounce_addr_r": self.addr_tp / max(1, self.addr_tp + self.addr_fn),
        }


def score(classifier: Classifier, corpus: Path, set_name: str) -> Figures:
    out = Figures()
    for line in (corpus / set_name / "labels.jsonl").read_text("utf-8").splitlines():
        if not line.strip():
            continue
        label = json.loads(line)
        verdict = classifier.classify((corpus / set_name / label["file"]).read_bytes())
        out.n += 1
        out.category_ok += verdict.category == label["category"]
        if verdict.decided_by.startswith("model:"):
            out.model_n += 1
            out.model_ok += verdict.category == label["category"]
        got = {r.to_json()["address"]: r.reason for r in verdict.recipients}
        want = {r["address"].lower(): r.get("reason", "") for r in label["recipients"]}
        for address, reason in want.items():
            if reason:
                out.reason_n += 1
                out.reason_ok += got.get(address) == reason
        if label["category"] in BOUNCES:
            out.addr_tp += len(set(got) & set(want))
            out.addr_fp += len(set(got) - set(want))
            out.addr_fn += len(set(want) - set(got))
    return out


@pytest.fixture(scope="module")
def shipped() -> Classifier:
    classifier = build_classifier(Settings())
    assert classifier.model is not None, "models/CURRENT names no message model"
    assert classifier.recipient_model is not None, "models/CURRENT has no recipient model (recipient/)"
    return classifier


@pytest.mark.parametrize("set_name", sorted(FLOORS))
def test_the_shipped_models_meet_the_floors(shipped: Classifier, corpus: Path, set_name: str) -> None:
    figures = score(shipped, corpus, set_name)
    rates = figures.rates()
    for measure, floor in FLOORS[set_name].items():
        assert rates[measure] >= floor, f"{set_name} {measure} {rates[measure]:.3f} < {floor} ({figures})"


def message_model_accuracy(classifier: Classifier, corpus: Path) -> tuple[float, int]:
    """The message model alone on every corpus message: accuracy and how many categories it answers."""
    ok = n = 0
    answers = set()
    for set_name in FLOORS:
        for line in (corpus / set_name / "labels.jsonl").read_text("utf-8").splitlines():
            if line.strip():
                label = json.loads(line)
                msg = parse_message((corpus / set_name / label["file"]).read_bytes())
                category, _ = classifier.model.predict(msg, message_fields(msg))  # type: ignore[union-attr]
                n, ok = n + 1, ok + (category == label["category"])
                answers.add(category)
    return ok / n, len(answers)


def test_the_message_model_alone_reads_the_corpus(shipped: Classifier, corpus: Path) -> None:
    """Most messages are decided by structure before the model is asked; asked alone, it must still read them."""
    accuracy, answers = message_model_accuracy(shipped, corpus)
    assert accuracy >= MESSAGE_MODEL_FLOOR and answers >= 6, (accuracy, answers)


def _constant(category: str, reason: str) -> Callable[..., RecipientDecision]:
    return lambda *args, **kwargs: RecipientDecision(category, reason, 0.99, "rmodel:broken")


def test_the_floors_catch_a_broken_model(shipped: Classifier, corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A message model answering one category, or a constant recipient model, would fail the gate."""
    for constant in ("user_reply", "hard_bounce"):
        monkeypatch.setattr(shipped.model, "predict", lambda msg, fields, c=constant: (c, 0.99))
        assert message_model_accuracy(shipped, corpus)[0] < MESSAGE_MODEL_FLOOR
    assert score(shipped, corpus, "hand-labelled").rates()["category"] < FLOORS["hand-labelled"]["category"]
    monkeypatch.undo()
    monkeypatch.setattr(shipped.recipient_model, "predict", _constant("mail_block", "blocked"))
    bounces = score(shipped, corpus, "bounces").rates()
    assert bounces["category"] < FLOORS["bounces"]["category"] and bounces["reason"] < FLOORS["bounces"]["reason"]
