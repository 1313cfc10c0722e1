"""Scoring one message without scikit-learn's per-call overhead.

Why: the classifier must run several times faster than Sisimai, so the model
gets a budget of about a millisecond per message. A fitted
``ColumnTransformer`` spends ~10 ms per single-row call on validation, joblib
dispatch and sparse-matrix assembly, for a few hundred non-zero features.
This module compiles the fitted pipeline once (vocabularies, idf weights and
the linear model's weights per feature) and scores a row with dictionary
look-ups and one small dot product. The analyzers are the fitted
vectorisers' own (``build_analyzer``), so tokens and n-grams are exactly
scikit-learn's; the test suite checks the margins equal
``pipeline.decision_function`` on real messages.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline


@dataclass
class _Column:
    index: int
    analyzer: Callable[[str], list[str]]
    vocabulary: dict[str, int]  # term -> feature index in the stacked matrix
    idf: list[float] | None  # per local feature; None for plain counts
    offset: int
    binary: bool
    sublinear: bool
    l2: bool


class FastScorer:
    """Margins of a fitted ``columns -> LinearSVC`` pipeline for one input row."""

    def __init__(self, pipeline: Pipeline) -> None:
        columns = pipeline.named_steps["columns"]
        classifier = pipeline.steps[-1][1]
        self.classes = [str(c) for c in classifier.classes_]
        coef = np.asarray(classifier.coef_, dtype=np.float64)
        if coef.shape[0] == 1:  # binary problem: one margin, for classes_[1]
            coef = np.vstack([-coef, coef])
            intercept = np.array([-classifier.intercept_[0], classifier.intercept_[0]])
        else:
            intercept = np.asarray(classifier.intercept_, dtype=np.float64)
        self.weights = np.ascontiguousarray(coef.T)  # (n_features, n_classes)
        self.intercept = intercept
        self.columns: list[_Column] = []
        offset = 0
        for name, vectorizer, column in columns.transformers_:
            if vectorizer == "drop" or name == "remainder":
                continue
            size = len(vectorizer.vocabulary_)
            is_tfidf = isinstance(vectorizer, TfidfVectorizer)
            self.columns.append(
                _Column(
                    index=int(column),
                    analyzer=vectorizer.build_analyzer(),
                    vocabulary={term: offset + i for term, i in vectorizer.vocabulary_.items()},
                    idf=[float(v) for v in vectorizer.idf_] if is_tfidf else None,
                    offset=offset,
                    binary=bool(vectorizer.binary),
                    sublinear=bool(getattr(vectorizer, "sublinear_tf", False)),
                    l2=is_tfidf and vectorizer.norm == "l2",
                )
            )
            offset += size
        if offset != self.weights.shape[0]:
            raise ValueError(f"fast scorer: {offset} features but the classifier has {self.weights.shape[0]}")

    def margins(self, row: Sequence[str]) -> np.ndarray:
        """One margin per class, as ``decision_function`` would give."""
        indices: list[int] = []
        values: list[float] = []
        log = math.log
        for column in self.columns:
            vocabulary, idf = column.vocabulary, column.idf
            start = len(values)
            for term, n in Counter(column.analyzer(row[column.index])).items():
                j = vocabulary.get(term)
                if j is None:
                    continue
                tf = 1.0 if column.binary else (1.0 + log(n) if column.sublinear else float(n))
                indices.append(j)
                values.append(tf * idf[j - column.offset] if idf is not None else tf)
            if column.l2 and len(values) > start:
                norm = math.sqrt(sum(v * v for v in values[start:])) or 1.0
                values[start:] = [v / norm for v in values[start:]]
        if not indices:
            return self.intercept.copy()
        return np.asarray(values) @ self.weights[indices] + self.intercept
