"""Training and evaluation: the ``train`` and ``evaluate`` commands and their API.

The functions a benchmark needs are plain and composable::

    examples = load_examples(Path("training_data"), exclude={"0049cf305105a9bf.eml"})
    model = train_model(examples)            # a TrainedModel, nothing written
    model.predict(parsed_message, fields)    # -> (category, probability)

``train_command`` adds what an admin needs: cross-validated metrics, a
temperature for the probabilities, and a saved, hashed, versioned model dir
holding both learned parts: the message model (real mail only) and the
recipient model (:mod:`~responsemaster.classify.model.recipient_training`,
every labelled bounce recipient: the corpus, corrections, the provider
catalogue, other labelled sets).
Features are computed once per message and reused across folds, so a full
retrain with 5-fold cross-validation takes seconds, not minutes.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold

from responsemaster.categories import CATEGORIES
from responsemaster.classify.model import features
from responsemaster.classify.model.dataset import Example, counts, data_hash, load_examples
from responsemaster.classify.model.store import save_model_pointer
from responsemaster.classify.model.estimator import (
    SETTINGS,
    TrainedModel,
    build_pipeline,
    rows_for,
    slim,
    softmax,
    word_vocabulary,
)
from responsemaster.classify.model.features import Normaliser, full_lemma_tables, reduce_lemmas
from responsemaster.classify.model.metrics import scores

__all__ = ["cross_validate", "evaluate_command", "load_examples", "train_command", "train_model"]

REPO_DATA = Path(__file__).resolve().parents[3] / "training_data"
FOLDS = 5
Tick = Callable[[], None]


@dataclass
class CrossValidation:
    """Out-of-fold predictions for every example."""

    labels: list[str]
    y_true: list[str]
    y_pred: list[str]
    margins: np.ndarray
    temperature: float
    folds: int


def featurise(examples: Sequence[Example], norm: Normaliser, tick: Tick | None = None) -> np.ndarray:
    return rows_for([e.read() for e in examples], norm, tick)


def train_model(
    examples: Sequence[Example],
    lemma_tables: dict[str, dict[str, str]] | None = None,
    rows: np.ndarray | None = None,
    tick: Tick | None = None,
) -> TrainedModel:
    """A model fitted on ``examples`` (nothing is written to disk).

    ``lemma_tables`` defaults to spaCy's full lookup tables (a few seconds to
    read; pass them in when training several models); ``rows`` reuses
    features already computed with the same tables.
    """
    tables = full_lemma_tables() if lemma_tables is None else lemma_tables
    norm = Normaliser(lemmas=tables)
    if rows is None:
        rows = featurise(examples, norm, tick)
    pipeline = slim(build_pipeline().fit(rows, [e.category for e in examples]))
    reduced = Normaliser(lemmas=reduce_lemmas(tables, word_vocabulary(pipeline)))
    return TrainedModel(pipeline=pipeline, normaliser=reduced)


def cross_validate(
    examples: Sequence[Example], rows: np.ndarray, folds: int = FOLDS, tick: Tick | None = None
) -> CrossValidation:
    """Stratified k-fold predictions (a class with fewer members than folds is spread as it can be)."""
    import warnings

    y = np.array([e.category for e in examples])
    labels = sorted(set(y))
    margins = np.full((len(y), len(labels)), -10.0)
    predicted = np.empty(len(y), dtype=object)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "least populated class has only 1 member"
        splits = list(splitter.split(rows, y))
    for train_idx, test_idx in splits:
        pipeline = build_pipeline().fit(rows[train_idx], y[train_idx])
        fold_margins = np.atleast_2d(pipeline.decision_function(rows[test_idx]))
        if fold_margins.shape[1] == 1:  # two classes only: one margin column
            fold_margins = np.hstack([-fold_margins, fold_margins])
        for j, label in enumerate(pipeline.classes_):
            margins[test_idx, labels.index(label)] = fold_margins[:, j]
        predicted[test_idx] = pipeline.predict(rows[test_idx])
        if tick is not None:
            tick()
    return CrossValidation(labels, list(y), [str(p) for p in predicted], margins, fit_temperature(margins, y, labels),
                           folds)


def fit_temperature(margins: np.ndarray, y: Sequence[str], labels: list[str]) -> float:
    """The softmax temperature that makes out-of-fold margins best calibrated (lowest log loss)."""
    index = np.array([labels.index(label) for label in y])
    best, best_loss = 1.0, float("inf")
    for temperature in np.logspace(-1, 1.5, 60):
        probabilities = softmax(margins, float(temperature))
        loss = -float(np.mean(np.log(probabilities[np.arange(len(index)), index] + 1e-12)))
        if loss < best_loss:
            best, best_loss = float(temperature), loss
    return round(best, 4)


def model_id_for(digest: str, now: datetime | None = None) -> str:
    """``<UTC timestamp>-<first 10 hex digits of the data hash>``: sortable and traceable."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{digest[:10]}"


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in ("scikit-learn", "skops", "spacy", "spacy-lookups-data", "numpy", "scipy", "responsemaster"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def build_meta(
    model: TrainedModel, examples: Sequence[Example], digest: str, cv: CrossValidation, data_dir: Path
) -> dict[str, Any]:
    return {
        "model_id": model.model_id,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "labels": model.labels,
        "counts": counts(examples),
        "n_examples": len(examples),
        "data_dir": str(data_dir),
        "data_sha256": digest,
        "libraries": library_versions(),
        "temperature": cv.temperature,
        "cross_validation": {"folds": cv.folds, **scores(cv.y_true, cv.y_pred)},
        "features": {
            "columns": list(features.COLUMNS),
            "languages": list(features.LANGUAGES),
            "chars": {"subject": features.SUBJECT_CHARS, "reply": features.REPLY_CHARS,
                      "text": features.TEXT_CHARS, "diag": features.DIAG_CHARS, "chars": features.CHARS_CHARS},
            "lemma_forms": {lang: len(t) for lang, t in model.normaliser.lemmas.items()},
            "estimator": {k: list(v) if isinstance(v, tuple) else v for k, v in SETTINGS.items()},
            "classifier": "LinearSVC + temperature-scaled softmax",
        },
    }


def default_data_dir(settings: Any) -> Path:
    """``[classify] training_data`` from the config, else ./training_data, else the repo's."""
    configured = settings.section("classify").get("training_data") if settings is not None else None
    if configured:
        path = Path(configured)
        return path if path.is_absolute() else settings.base_dir / path
    local = Path.cwd() / "training_data"
    return local if local.is_dir() else REPO_DATA


def message_examples(examples: Sequence[Example]) -> list[Example]:
    """What the message model learns from: real mail (generated bounces teach the recipient model only)."""
    return [e for e in examples if not e.generated]


def train_recipients(examples: Sequence[Example], rules: Any = None, model_id: str = "unsaved",
                     tick: Tick | None = None, calibrate: bool = True) -> Any:
    """The recipient model fitted on every labelled bounce recipient of ``examples`` (None if there are none)."""
    from responsemaster.classify.model.recipient_training import fit_recipient_model, recipient_examples
    from responsemaster.classify.pipeline import Classifier

    labelled = recipient_examples(examples, Classifier(rules=rules), tick)
    if len({e.category for e in labelled}) < 2:
        return None
    return fit_recipient_model(labelled, model_id=model_id, calibrate=calibrate)


def train_command(settings: Any, data_dir: Path | None) -> Path:
    """``responsemaster train``: cross-validate, fit on everything, save, point CURRENT at it."""
    from responsemaster.classify.model import report
    from responsemaster.classify.model.store import save_model
    from responsemaster.classify.rules import RuleSet

    data_dir = Path(data_dir) if data_dir is not None else default_data_dir(settings)
    with report.progress() as bar:
        task = bar.add_task("reading training data", total=None)
        everything = load_examples(data_dir)
        examples = message_examples(everything)
        if len({e.category for e in examples}) < 2:
            raise _usage_error(f"{data_dir}: need labelled messages of at least two categories")
        bar.update(task, description="loading spaCy lemma tables")
        tables = full_lemma_tables()
        bar.update(task, description="features", total=len(examples), completed=0)
        norm = Normaliser(lemmas=tables)
        rows = featurise(examples, norm, lambda: bar.advance(task))
        folds = _folds_for(examples)
        bar.update(task, description=f"{folds}-fold cross-validation", total=folds, completed=0)
        cv = cross_validate(examples, rows, folds, lambda: bar.advance(task))
        bar.update(task, description="fitting the final model", total=1, completed=0)
        model = train_model(examples, tables, rows)
        bar.advance(task)
        bar.update(task, description="recipient model", total=len(everything), completed=0)
        digest = data_hash(data_dir, everything)
        model.model_id = model_id_for(digest)
        recipients = train_recipients(everything, RuleSet.load(settings.classify.rules_files), model.model_id,
                                      lambda: bar.advance(task))
    model.meta = build_meta(model, examples, digest, cv, data_dir)
    if recipients is not None:
        model.meta["recipient_model"] = {k: recipients.meta[k] for k in ("n_recipients", "n_with_reason",
                                                                          "n_corrections", "cross_validation")}
    target = save_model(model, settings.classify.models_dir, model.model_id, model.meta, make_current=False)
    if recipients is not None:
        recipients.save(target)
    save_model_pointer(settings.classify.models_dir, model.model_id)
    report.print_scores(cv.y_true, cv.y_pred, f"cross-validated ({folds} folds) on {len(examples)} messages")
    if recipients is not None:
        report.print_recipient_model(recipients.meta)
    report.console().print(f"model [bold]{model.model_id}[/] written to {target} (CURRENT updated)")
    return target


def evaluate_command(settings: Any, data_dir: Path | None) -> dict[str, Any]:
    """``responsemaster evaluate``: cross-validate on training data, or score the current model on DIR."""
    from responsemaster.classify.model import report
    from responsemaster.classify.model.store import load_current_model

    if data_dir is None:
        data_dir = default_data_dir(settings)
        with report.progress() as bar:
            task = bar.add_task("reading training data", total=None)
            examples = message_examples(load_examples(data_dir))
            bar.update(task, description="loading spaCy lemma tables")
            norm = Normaliser(lemmas=full_lemma_tables())
            bar.update(task, description="features", total=len(examples), completed=0)
            rows = featurise(examples, norm, lambda: bar.advance(task))
            folds = _folds_for(examples)
            bar.update(task, description=f"{folds}-fold cross-validation", total=folds, completed=0)
            cv = cross_validate(examples, rows, folds, lambda: bar.advance(task))
        title = f"cross-validated ({folds} folds) on {data_dir} ({len(examples)} messages)"
        return report.print_scores(cv.y_true, cv.y_pred, title)
    model = load_current_model(settings.classify.models_dir)
    if model is None:
        raise _usage_error(f"no trained model in {settings.classify.models_dir}: run `responsemaster train` first")
    examples = load_examples(Path(data_dir))
    if not examples:
        raise _usage_error(f"{data_dir}: no labelled messages (<category>/*.eml or labels.jsonl)")
    with report.progress() as bar:
        task = bar.add_task(f"model {model.model_id}", total=len(examples))
        predicted = []
        for example in examples:
            predicted.extend(model.predict_raw([example.read()]))  # type: ignore[attr-defined]
            bar.advance(task)
    title = f"model {model.model_id} on {data_dir} ({len(examples)} messages; not cross-validated)"
    return report.print_scores([e.category for e in examples], predicted, title)


def _folds_for(examples: Sequence[Example]) -> int:
    """Five folds, fewer when the data is tiny (every fold needs a test example)."""
    return max(2, min(FOLDS, len(examples) // max(1, len(CATEGORIES))))


def _usage_error(message: str) -> Exception:
    import click

    return click.ClickException(message)
