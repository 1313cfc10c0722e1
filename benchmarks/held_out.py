"""Models trained without what they are tested on: the folds of classify_bench.py's cv and group modes.

Every training example's message features and labelled recipients are
computed once (:func:`prepare_training`); each fold then fits both learned
parts, the message model and the recipient model, on what is left
(:func:`train_fold`). A training example is left out when its bytes are a
held-out message's (whatever its name) and, for group folds, when it shares
the origin of any held-out message (see
``responsemaster.classify.model.dataset.origin``).
"""

from __future__ import annotations

import hashlib
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


def train_fold(data: Training, held_out: list[Labelled], by_origin: bool):
    """Message and recipient models trained without ``held_out`` (and, ``by_origin``, without their origins).

    A training example is left out when its bytes are a held-out message's
    (whatever its name) or, for group folds, when it comes from the same
    origin as any held-out message: the same project's other test files,
    the same MTA family, the same provider's catalogue entries.
    """
    from responsemaster.classify.model.estimator import as_matrix
    from responsemaster.classify.model.recipient_training import fit_recipient_model
    from responsemaster.classify.model.training import message_examples, train_model

    held = {hashlib.sha256(i.path.read_bytes()).hexdigest() for i in held_out}
    origins = {i.origin for i in held_out} if by_origin else set()
    keep = [e for e in data.examples if e.sha256 not in held and e.origin not in origins]
    message = message_examples(keep)
    model = train_model(message, lemma_tables=data.tables, rows=as_matrix([data.rows[e.sha256] for e in message]))
    model.model_id = "fold"
    recipients = fit_recipient_model([r for e in keep for r in data.recipients[e.sha256]], model_id="fold")
    return model, recipients
