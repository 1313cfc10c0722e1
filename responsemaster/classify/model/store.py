"""Saving and loading trained models: skops files, an explicit trusted list.

Why not pickle: loading a pickle runs whatever code it names, and talon's
pickled model broke on every new library version. A skops file only builds
the types listed in :data:`TRUSTED`; anything else makes loading fail
(``skops.io.exceptions.UntrustedTypesFoundException``), so a model file
swapped by an attacker cannot execute code. The list is written out here on
purpose, not computed from the file at load time.

Layout of one model: ``models/<id>/model.skops`` (the scikit-learn pipeline),
``scorer.json`` + ``scorer.npy`` (the same model compiled to plain data for
prediction, see :mod:`~responsemaster.classify.model.fastpath`; loading it
needs neither pickle nor scikit-learn), ``lemmas.json`` (the reduced lemma
tables the features use), ``tokenizer-<lang>.json`` (the data of each spaCy
tokenizer the features use, read without spaCy: see
:mod:`~responsemaster.classify.model.tokenizer`), ``meta.json`` (versions, labels, counts, data
hash, metrics, settings) and ``recipient/`` (the recipient model, stored the
same way: see :mod:`~responsemaster.classify.model.recipient_model`).
``models/CURRENT`` holds the id in use.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

from responsemaster.classify.model import LazyModel, TextModel

MODEL_FILE = "model.skops"
LEMMAS_FILE = "lemmas.json"
META_FILE = "meta.json"
CURRENT = "CURRENT"
#: The files a recipient model is saved in (recipient_model.FOLDER, HEADS, META_FILE; fastpath's file names),
#: named here so that telling whether there is one imports no numpy (a test keeps the two lists equal).
RECIPIENT_MODEL_FILES = ("recipient/meta.json", "recipient/category/scorer.json", "recipient/category/scorer.npy",
                         "recipient/reason/scorer.json", "recipient/reason/scorer.npy")

#: Every non-builtin type a model.skops may contain. Extend it only together
#: with a change to estimator.build_pipeline, and only with scikit-learn/numpy types.
TRUSTED: list[str] = [
    "numpy.dtype",
    "numpy.float32",
    "numpy.float64",
    "numpy.int32",
    "numpy.int64",
    "numpy.ndarray",
    "scipy.sparse._csr.csr_matrix",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.feature_extraction.text.CountVectorizer",
    "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.feature_extraction.text.TfidfVectorizer",
    "sklearn.pipeline.Pipeline",
    "sklearn.svm._classes.LinearSVC",
    "builtins.slice",
]


def save_model(model: Any, models_dir: Path, model_id: str, meta: dict[str, Any], make_current: bool = True) -> Path:
    """Write ``models_dir/<model_id>/`` and, by default, point CURRENT at it."""
    import skops.io as sio

    from responsemaster.classify.model.fastpath import FastScorer
    from responsemaster.classify.model.tokenizer import export_tokenizers

    target = Path(models_dir) / model_id
    target.mkdir(parents=True, exist_ok=True)
    sio.dump(model.fitted(), target / MODEL_FILE, compression=zipfile.ZIP_DEFLATED)
    FastScorer.from_pipeline(model.fitted()).save(target)
    lemmas = {lang: dict(sorted(table.items())) for lang, table in model.normaliser.lemmas.items()}
    (target / LEMMAS_FILE).write_text(json.dumps(lemmas, ensure_ascii=False, separators=(",", ":")), "utf-8")
    export_tokenizers(target)
    (target / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False, sort_keys=True) + "\n", "utf-8")
    untrusted = [t for t in sio.get_untrusted_types(file=target / MODEL_FILE) if t not in TRUSTED]
    if untrusted:
        raise RuntimeError(f"model contains types missing from store.TRUSTED: {untrusted}")
    if make_current:
        save_model_pointer(models_dir, model_id)
    return target


def save_model_pointer(models_dir: Path, model_id: str) -> None:
    """Point ``models/CURRENT`` at ``model_id`` (atomically: a reader sees the old id or the new one)."""
    _write_atomically(Path(models_dir) / CURRENT, model_id + "\n")


def load_model(model_dir: Path) -> TextModel:
    """The model in ``model_dir``; only types in :data:`TRUSTED` are built.

    Prediction reads the compiled scorer when the folder has one; the skops
    pipeline is then loaded only if something asks for it (evaluation).
    """
    from responsemaster.classify.model.estimator import TrainedModel
    from responsemaster.classify.model.fastpath import FastScorer
    from responsemaster.classify.model.features import Normaliser

    model_dir = Path(model_dir)
    lemmas = json.loads((model_dir / LEMMAS_FILE).read_text("utf-8")) if (model_dir / LEMMAS_FILE).exists() else {}
    meta = json.loads((model_dir / META_FILE).read_text("utf-8"))

    def load_pipeline() -> Any:
        import skops.io as sio

        return sio.load(model_dir / MODEL_FILE, trusted=TRUSTED)

    scorer = FastScorer.load(model_dir)
    return TrainedModel(
        pipeline=None if scorer is not None else load_pipeline(),
        normaliser=Normaliser(lemmas=lemmas, tokenizer_dir=model_dir),
        model_id=model_dir.name,
        meta=meta,
        scorer=scorer,
        load_pipeline=load_pipeline,
    )


def current_model_dir(models_dir: Path) -> Path | None:
    """The folder ``models/CURRENT`` names, if it exists."""
    pointer = Path(models_dir) / CURRENT
    if not pointer.is_file():
        return None
    model_id = pointer.read_text("utf-8").strip()
    if not model_id or "/" in model_id or model_id.startswith("."):
        return None
    folder = Path(models_dir) / model_id
    return folder if (folder / MODEL_FILE).is_file() else None


def load_current_model(models_dir: Path) -> TextModel | None:
    """The model ``models/CURRENT`` points at, or None when none is trained yet."""
    folder = current_model_dir(models_dir)
    return load_model(folder) if folder is not None else None


def load_current_recipient_model(models_dir: Path) -> Any:
    """The recipient model saved with the current model, or None (none trained, or an older model without one)."""
    from responsemaster.classify.model.recipient_model import RecipientModel

    folder = current_model_dir(models_dir)
    return RecipientModel.load(folder) if folder is not None else None


def current_model(models_dir: Path) -> LazyModel | None:
    """Like :func:`load_current_model`, loaded on first use (see :class:`LazyModel`)."""
    folder = current_model_dir(models_dir)
    return LazyModel(folder, load_model) if folder is not None else None


def current_recipient_model(models_dir: Path) -> LazyModel | None:
    """Like :func:`load_current_recipient_model`, loaded on first use; None when the files are not there.

    Whether the model folder has one is told from its files alone (no numpy import).
    """
    folder = current_model_dir(models_dir)
    if folder is None or not all((folder / name).is_file() for name in RECIPIENT_MODEL_FILES):
        return None

    def load(model_dir: Path) -> Any:
        from responsemaster.classify.model.recipient_model import RecipientModel

        loaded = RecipientModel.load(model_dir)
        if loaded is None:
            raise RuntimeError(f"{model_dir}: the recipient model's files are there but do not load")
        return loaded

    return LazyModel(folder, load)


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, "utf-8")
    os.replace(tmp, path)
