"""The scikit-learn pipeline and the object the classifier calls.

Why this composition (scikit-learn's "column transformer with heterogeneous
data" pattern): each field says something different (a subject's "Automatic
reply", a diagnostic's "5.1.1 user unknown", the From local part
"mailer-daemon", an Auto-Submitted header), so each gets its own vectoriser
and a linear model weighs them. Word TF-IDF on lemmas generalises across
inflections; character n-grams on subject + reply catch languages the
tokenizer cannot split (Japanese) and spelling variants. A class-weighted
linear SVM keeps the thin classes (challenge, unsubscribe) from being
drowned by bounces and predicts in microseconds; it fits in a second where a
multinomial logistic regression took ten with no better cross-validated
scores. Its margins become probabilities by temperature scaling (a softmax
with one temperature fitted on cross-validated margins at training time,
stored in meta.json), which works with classes of one example, unlike
CalibratedClassifierCV's inner folds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # scikit-learn and numpy are imported where a pipeline is built or trained: prediction needs neither
    import numpy as np
    from sklearn.pipeline import Pipeline

from responsemaster.classify.fields import message_fields
from responsemaster.classify.model.fastpath import FastScorer, probabilities
from responsemaster.classify.model.features import COLUMNS, Normaliser, message_columns
from responsemaster.parse.message import ParsedMessage, parse_message

#: Hyper-parameters recorded in meta.json; change them here, not in calls.
SETTINGS: dict[str, Any] = {
    "word_ngrams": (1, 2),
    "char_ngrams": (2, 4),
    "max_features_per_column": 8000,
    "min_df": 2,
    "C": 0.3,
    "class_weight": "balanced",
}


def build_pipeline(settings: Mapping[str, Any] = SETTINGS) -> Pipeline:
    """An unfitted pipeline: per-column vectorisers, then a class-weighted linear SVM."""
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    from sklearn.pipeline import Pipeline
    from sklearn.svm import LinearSVC

    cap = settings["max_features_per_column"]
    words = {"token_pattern": r"\S+", "lowercase": False, "sublinear_tf": True, "dtype": np.float32}
    index = {name: i for i, name in enumerate(COLUMNS)}
    columns = ColumnTransformer(
        [
            ("subject", TfidfVectorizer(ngram_range=tuple(settings["word_ngrams"]), max_features=cap, **words),
             index["subject"]),
            ("reply", TfidfVectorizer(ngram_range=tuple(settings["word_ngrams"]), min_df=settings["min_df"],
                                      max_features=cap, **words), index["reply"]),
            ("diag", TfidfVectorizer(ngram_range=tuple(settings["word_ngrams"]), max_features=cap, **words),
             index["diag"]),
            ("text", TfidfVectorizer(ngram_range=tuple(settings["word_ngrams"]), min_df=settings["min_df"],
                                     max_features=cap, **words), index["text"]),
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(settings["char_ngrams"]),
                                      min_df=settings["min_df"], max_features=cap, sublinear_tf=True,
                                      dtype=np.float32), index["chars"]),
            ("sender", CountVectorizer(token_pattern=r"\S+", lowercase=False, binary=True, dtype=np.float32),
             index["sender"]),
            ("flags", CountVectorizer(token_pattern=r"\S+", lowercase=False, binary=True, dtype=np.float32),
             index["flags"]),
        ],
        sparse_threshold=1.0,
    )
    classifier = LinearSVC(C=settings["C"], class_weight=settings["class_weight"])
    return Pipeline([("columns", columns), ("classifier", classifier)])


def rows_for(
    raws: Sequence[bytes], norm: Normaliser, progress: Callable[[], None] | None = None
) -> np.ndarray:
    """Input rows for raw messages, parsed and split into fields as the pipeline does."""
    rows = []
    for raw in raws:
        msg = parse_message(raw)
        rows.append(message_columns(msg, message_fields(msg), norm))
        if progress is not None:
            progress()
    return as_matrix(rows)


def as_matrix(rows: Sequence[Sequence[str]]) -> np.ndarray:
    import numpy as np

    matrix = np.empty((len(rows), len(COLUMNS)), dtype=object)
    for i, row in enumerate(rows):
        matrix[i, :] = row
    return matrix


def slim(pipeline: Pipeline) -> Pipeline:
    """Make the fitted pipeline small and quick to load; predictions unchanged.

    scikit-learn keeps every term cut by ``min_df``/``max_features`` in
    ``stop_words_`` (tens of megabytes here; its docs say to delete it before
    saving), and its vocabularies map terms to numpy integers, which skops
    writes as one .npy file each (thousands of files, seconds to load).
    Plain ints are stored as JSON.
    """
    for _, vectorizer, _ in pipeline.named_steps["columns"].transformers_:
        if hasattr(vectorizer, "stop_words_"):
            delattr(vectorizer, "stop_words_")
        if hasattr(vectorizer, "vocabulary_"):
            vectorizer.vocabulary_ = {str(term): int(i) for term, i in vectorizer.vocabulary_.items()}
    return pipeline


def word_vocabulary(pipeline: Pipeline) -> set[str]:
    """Every single word the fitted word vectorisers know (n-grams split)."""
    vocabulary: set[str] = set()
    columns = pipeline.named_steps["columns"]
    for name in ("subject", "reply", "text"):
        for term in columns.named_transformers_[name].vocabulary_:
            vocabulary.update(term.split(" "))
    return vocabulary


@dataclass
class TrainedModel:
    """A fitted model plus the normaliser it was trained with.

    Implements the pipeline's ``TextModel`` protocol: ``model_id`` and
    ``predict(msg, fields)``. Prediction uses the compiled scorer; the
    scikit-learn pipeline is only needed to train, save and evaluate, so a
    loaded model builds it on first use (``load_pipeline``).
    """

    pipeline: Pipeline | None
    normaliser: Normaliser
    model_id: str = "unsaved"
    meta: dict[str, Any] = field(default_factory=dict)
    scorer: FastScorer | None = field(default=None, repr=False)
    load_pipeline: Callable[[], Pipeline] | None = field(default=None, repr=False)

    def fitted(self) -> Pipeline:
        """The scikit-learn pipeline (loaded from disk the first time, for a saved model)."""
        if self.pipeline is None:
            if self.load_pipeline is None:
                raise RuntimeError(f"model {self.model_id}: no scikit-learn pipeline to load")
            self.pipeline = self.load_pipeline()
        return self.pipeline

    @property
    def labels(self) -> list[str]:
        return list(self._scorer().classes)

    @property
    def temperature(self) -> float:
        return float(self.meta.get("temperature", 1.0))

    def _scorer(self) -> FastScorer:
        if self.scorer is None:
            self.scorer = FastScorer.from_pipeline(self.fitted())
        return self.scorer

    def predict(self, msg: ParsedMessage, fields: Mapping[str, str]) -> tuple[str, float]:
        """The most likely category and its probability."""
        scorer = self._scorer()
        chances = probabilities(scorer.margins(message_columns(msg, fields, self.normaliser)), self.temperature)
        best = max(range(len(chances)), key=chances.__getitem__)  # the first of equals, as numpy's argmax
        return scorer.classes[best], chances[best]

    def predict_raw(self, raws: Sequence[bytes]) -> list[str]:
        """Categories for raw messages (evaluation and benchmarks)."""
        if not raws:
            return []
        return [str(c) for c in self.fitted().predict(rows_for(raws, self.normaliser))]


def softmax(margins: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities from per-class margins (rows), sharpened by ``temperature`` (training's calibration)."""
    import numpy as np

    scaled = np.atleast_2d(margins) * temperature
    scaled = scaled - scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=1, keepdims=True)
