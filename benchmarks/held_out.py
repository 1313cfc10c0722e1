"""Models trained without what they are tested on: the folds of classify_bench.py's cv and group modes.

Every training example's message features and labelled recipients are
computed once (:func:`prepare_training`); each fold then fits both learned
parts, the message model and the recipient model, on what is left
(:func:`train_fold`). A training example is left out when

- its bytes are a held-out message's (whatever its name);
- it repeats a held-out message's words: a bounce lab DSN whose reply was
  taken from that corpus message (``Example.text_sources``);
- for group folds, any origin of its words is an origin of a held-out
  message (``responsemaster.classify.model.dataset.origins``): the same
  project's other test files, the same MTA family, the same provider's
  catalogue entries and lab replies, whichever MTA carried them;
- it comes from a generator held out as well (:func:`train_recipient_fold`'s
  ``without_sources``: the lab DSNs one MTA wrote, when that MTA's DSNs are
  tested).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass

from corpus import REPO, Labelled

TRAINING_DATA = REPO / "training_data"


@dataclass
class Training:
    """What every fold reuses: the training examples, their message features and their labelled recipients."""

    examples: list
    rows: dict
    recipients: dict
    tables: dict


def prepare_training() -> Training:
    """Read training_data/ once; compute message features and labelled recipients once per example."""
    from responsemaster.classify.model import training
    from responsemaster.classify.model.features import Normaliser
    from responsemaster.classify.model.recipient_training import recipient_examples
    from responsemaster.classify.pipeline import Classifier

    examples = training.load_examples(TRAINING_DATA)
    tables = training.full_lemma_tables()
    message = training.message_examples(examples)
    rows = dict(zip((e.sha256 for e in message), training.featurise(message, Normaliser(lemmas=tables))))
    reader = Classifier()
    recipients = {e.sha256: recipient_examples([e], reader) for e in examples}
    return Training(examples, rows, recipients, tables)


def kept(data: Training, held_out: list[Labelled], by_origin: bool, without_sources: Collection[str] = ()) -> list:
    """The training examples a fold may learn from (see the module docstring)."""
    held = {hashlib.sha256(i.path.read_bytes()).hexdigest() for i in held_out}
    held_sources = {i.source for i in held_out if i.source}
    origins = {o for i in held_out for o in i.origins} if by_origin else set()
    return [e for e in data.examples
            if e.sha256 not in held and not (e.text_sources & held_sources)
            and not (origins and origins.intersection(e.origins)) and e.source not in without_sources]


def train_fold(data: Training, held_out: list[Labelled], by_origin: bool):
    """Message and recipient models trained without ``held_out`` (and, ``by_origin``, without their origins)."""
    from responsemaster.classify.model.estimator import as_matrix
    from responsemaster.classify.model.training import message_examples, train_model

    keep = kept(data, held_out, by_origin)
    message = message_examples(keep)
    model = train_model(message, lemma_tables=data.tables, rows=as_matrix([data.rows[e.sha256] for e in message]))
    model.model_id = "fold"
    return model, _recipient_model(data, keep)


def train_recipient_fold(data: Training, held_out: list[Labelled], by_origin: bool,
                         without_sources: Collection[str]):
    """A recipient model trained as :func:`train_fold`'s, and also without every example of ``without_sources``."""
    return _recipient_model(data, kept(data, held_out, by_origin, without_sources))


def _recipient_model(data: Training, keep: list):
    from responsemaster.classify.model.recipient_training import fit_recipient_model

    return fit_recipient_model([r for e in keep for r in data.recipients[e.sha256]], model_id="fold")
