"""Training the recipient model: labelled recipients out of labelled messages, then two heads.

A labelled message becomes recipient examples by running the classifier's
detection stage on it (the same detectors, rules and evidence the pipeline
uses when classifying) and pairing each failed recipient it reports with
its label:

- a per-recipient label (the corpus, a correction made for one recipient)
  is matched by address (or final recipient); a message with one label and
  one reported recipient pairs them even when the extraction differs;
- a message labelled only as a whole (a relabelled message, the extra
  real mail, a catalogue entry) labels its first reported recipient: the
  docs/categories.md says a message takes the category of its first recipient.

Corrections (``source`` ``review:`` or ``label:``) weigh more than one
example and are remembered exactly (see
:class:`~responsemaster.classify.model.recipient_model.RecipientModel`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from responsemaster.categories import BOUNCE_CATEGORIES, DEFAULT_REASON, Category, category_of
from responsemaster.classify import fallback_addresses, recipient_decision
from responsemaster.classify.detection import Detection
from responsemaster.classify.fields import message_fields
from responsemaster.classify.model.dataset import Example, RecipientLabel
from responsemaster.classify.model.fastpath import FastScorer
from responsemaster.classify.model.recipient_features import COLUMNS, Evidence
from responsemaster.classify.model.recipient_model import HEADS, RecipientModel
from responsemaster.parse.message import parse_message
from responsemaster.verdict import RecipientVerdict

#: Hyper-parameters recorded in meta.json; change them here, not in calls.
SETTINGS: dict[str, Any] = {
    "word_ngrams": (1, 3),
    "char_ngrams": (4, 4),
    "max_char_features": 8000,
    "min_df": 2,
    "C": 0.1,
    "class_weight": None,
    #: How much the server's words count against the facts (codes, stage, rules that matched).
    "text_weight": 1.0,
    "correction_weight": 5.0,
    "folds": 5,
}
#: Sources whose labels a person gave for this very installation.
CORRECTION_SOURCES = ("review:", "label:")
_BOUNCES = frozenset(str(c) for c in BOUNCE_CATEGORIES)
_DECIDED_BY_STRUCTURE = frozenset({"delayed", "delivered", "relayed", "expanded"})


@dataclass(frozen=True)
class RecipientExample:
    evidence: Evidence
    category: str
    #: '' when the label names only a category.
    reason: str
    origin: str
    #: The training file it came from (to hold a message out).
    file: str
    correction: bool = False


def recipient_examples(examples: Sequence[Example], classifier: Any,
                       tick: Callable[[], None] | None = None) -> list[RecipientExample]:
    """Labelled recipients of every bounce among ``examples``, read by ``classifier``'s detection stage."""
    out: list[RecipientExample] = []
    for example in examples:
        out.extend(_from_message(example, classifier))
        if tick is not None:
            tick()
    return out


def _from_message(example: Example, classifier: Any) -> list[RecipientExample]:
    labels = [r for r in example.recipients if r.category in _BOUNCES]
    if example.category not in _BOUNCES and not labels:
        return []
    msg = parse_message(example.read())
    if msg.error:
        return []
    fields = message_fields(msg)
    detection = classifier.detect(msg, fields)
    if detection.category and detection.category not in _BOUNCES:
        return []  # the structure decides (a complaint, a receipt): nothing for the recipient model
    if not detection.recipients and example.category in _BOUNCES:
        # A free-text bounce only the message model recognises: the pipeline reads it the same way.
        detection = Detection(detector=f"model:{example.category}", recipients=fallback_addresses.recipients(msg))
        detection.recipients = detection.recipients[:1]
    pairs = _pair(detection.recipients, labels, example)
    correction = example.source.startswith(CORRECTION_SOURCES)
    out = []
    for rcpt, label in pairs:
        if rcpt.action in _DECIDED_BY_STRUCTURE or label.category not in _BOUNCES:
            continue
        reason = label.reason if label.reason and category_of(label.reason) == label.category else ""
        seen = _evidence(classifier, rcpt, detection, fields)
        out.append(RecipientExample(seen, label.category, reason, example.origin, example.path.name, correction))
    return out


def _pair(reported: list[RecipientVerdict], labels: list[RecipientLabel],
          example: Example) -> list[tuple[RecipientVerdict, RecipientLabel]]:
    if not reported:
        return []
    if not labels:
        if example.category not in _BOUNCES:
            return []
        return [(reported[0], RecipientLabel(reported[0].address, example.category, example.reason))]
    by_address = {r.address.lower(): r for r in reported}
    by_address.update({r.final_recipient.lower(): r for r in reported if r.final_recipient})
    pairs = [(by_address[label.address], label) for label in labels if label.address in by_address]
    if not pairs and len(labels) == 1 and len(reported) == 1:
        pairs = [(reported[0], labels[0])]
    return pairs


def _evidence(classifier: Any, rcpt: RecipientVerdict, detection: Detection, fields: Mapping[str, str]) -> Evidence:
    detector_reason = rcpt.reason
    hand_reason, _, _ = recipient_decision.hand_decision(classifier.rules, rcpt, detection, fields)
    return recipient_decision.recipient_evidence(classifier.rules, rcpt, detection, fields, hand_reason,
                                                 detector_reason)


# --- fitting ------------------------------------------------------------------------------------


def build_head(settings: Mapping[str, Any] = SETTINGS) -> Any:
    """An unfitted head: word and character TF-IDF of the words, binary facts, a logistic regression."""
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    from sklearn.svm import LinearSVC
    from sklearn.pipeline import Pipeline

    index = {name: i for i, name in enumerate(COLUMNS)}
    columns = ColumnTransformer(
        [
            ("words", TfidfVectorizer(token_pattern=r"\S+", lowercase=False, sublinear_tf=True,
                                      min_df=settings["min_df"], ngram_range=tuple(settings["word_ngrams"]),
                                      dtype=np.float32), index["words"]),
            ("chars", TfidfVectorizer(analyzer="char_wb", lowercase=False, sublinear_tf=True, min_df=2,
                                      ngram_range=tuple(settings["char_ngrams"]),
                                      max_features=settings["max_char_features"], dtype=np.float32), index["chars"]),
            ("facts", CountVectorizer(token_pattern=r"\S+", lowercase=False, binary=True, dtype=np.float32),
             index["facts"]),
        ],
        sparse_threshold=1.0,
        transformer_weights={"words": settings["text_weight"], "chars": settings["text_weight"]},
    )
    classifier = LinearSVC(C=settings["C"], class_weight=settings["class_weight"])
    return Pipeline([("columns", columns), ("classifier", classifier)])


def rows_of(examples: Sequence[RecipientExample]) -> np.ndarray:
    matrix = np.empty((len(examples), len(COLUMNS)), dtype=object)
    for i, example in enumerate(examples):
        matrix[i, :] = example.evidence.columns()
    return matrix


def fit_recipient_model(examples: Sequence[RecipientExample], model_id: str = "unsaved",
                        settings: Mapping[str, Any] = SETTINGS, calibrate: bool = True) -> RecipientModel:
    """Both heads fitted on ``examples``, temperatures fitted on cross-validated margins, corrections remembered."""
    from responsemaster.classify.model.estimator import slim

    if len({e.category for e in examples}) < 2:
        raise ValueError("the recipient model needs labelled bounces of at least two categories")
    rows = rows_of(examples)
    weights = np.array([settings["correction_weight"] if e.correction else 1.0 for e in examples])
    targets = {"category": [e.category for e in examples], "reason": [e.reason for e in examples]}
    pipelines, scorers, temperatures, reports = {}, {}, {}, {}
    for head in HEADS:
        keep = np.array([bool(t) for t in targets[head]])
        y = np.array(targets[head], dtype=object)[keep]
        if len(set(y)) < 2:  # no reasons labelled at all: each category's default reason
            y = np.array([DEFAULT_REASON[Category(c)] for c in targets["category"]], dtype=object)
            keep = np.ones(len(examples), dtype=bool)
        pipeline = _fit(rows[keep], y, weights[keep], settings)
        pipelines[head] = slim(pipeline)
        scorers[head] = FastScorer.from_pipeline(pipeline)
        temperatures[head], reports[head] = 1.0, {}
        if calibrate:
            temperatures[head], reports[head] = _calibrate(rows[keep], y, weights[keep], settings)
    memory = {e.evidence.signature(): (e.category, e.reason or DEFAULT_REASON[Category(e.category)])
              for e in examples if e.correction}
    meta = {
        "n_recipients": len(examples),
        "n_with_reason": int(sum(1 for e in examples if e.reason)),
        "n_corrections": int(sum(1 for e in examples if e.correction)),
        "cross_validation": reports,
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()},
        "classifier": "LogisticRegression per head + temperature-scaled softmax; category head decides",
    }
    return RecipientModel(model_id=model_id, heads=scorers, temperatures=temperatures, memory=memory, meta=meta,
                          pipelines=pipelines)


def _fit(rows: np.ndarray, y: np.ndarray, weights: np.ndarray, settings: Mapping[str, Any]) -> Any:
    pipeline = build_head(settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on tiny test sets
        pipeline.fit(rows, y, classifier__sample_weight=weights)
    return pipeline


def _calibrate(rows: np.ndarray, y: np.ndarray, weights: np.ndarray,
               settings: Mapping[str, Any]) -> tuple[float, dict[str, Any]]:
    """The temperature that best calibrates out-of-fold margins, and the out-of-fold accuracy."""
    from sklearn.model_selection import StratifiedKFold

    from responsemaster.classify.model.training import fit_temperature

    labels = sorted(set(y))
    folds = int(min(settings["folds"], max(2, min(np.unique(y, return_counts=True)[1].max(), len(y) // 2))))
    margins = np.full((len(y), len(labels)), -10.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        splits = list(StratifiedKFold(n_splits=folds, shuffle=True, random_state=0).split(rows, y))
    for train, test in splits:
        if len(set(y[train])) < 2:
            continue
        pipeline = _fit(rows[train], y[train], weights[train], settings)
        fold = np.atleast_2d(pipeline.decision_function(rows[test]))
        if fold.shape[1] == 1:
            fold = np.hstack([-fold, fold])
        for j, label in enumerate(pipeline.classes_):
            margins[test, labels.index(label)] = fold[:, j]
    predicted = [labels[i] for i in margins.argmax(axis=1)]
    accuracy = float(np.mean([p == t for p, t in zip(predicted, y)]))
    return fit_temperature(margins, list(y), labels), {"folds": folds, "accuracy": round(accuracy, 4), "n": len(y)}
