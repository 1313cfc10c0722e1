"""Scoring one message without scikit-learn: the fitted model as plain data.

Why: the classifier must run several times faster than Sisimai, so the model
gets a budget of about a millisecond per message. A fitted
``ColumnTransformer`` spends ~10 ms per single-row call on validation, joblib
dispatch and sparse-matrix assembly, for a few hundred non-zero features.
And loading the skops file imports most of scikit-learn (skops' trusted-type
tables name every estimator): about four CPU-seconds before the first
message of a one-file ``classify``.

So training also writes the fitted pipeline "compiled": per column the
vectoriser's settings, vocabulary and idf weights (``scorer.json``) and the
linear model's weights per feature (``scorer.npy``, loaded without pickle).
A row is scored with dictionary look-ups and one small dot product, and
loading needs only JSON and numpy. The analyzers below re-implement the two
scikit-learn analyzers the pipeline uses (whitespace tokens with word
n-grams; ``char_wb`` n-grams); the test suite checks they produce
scikit-learn's exact tokens and that the margins equal
``pipeline.decision_function`` on real messages.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

SCORER_FILE = "scorer.json"
WEIGHTS_FILE = "scorer.npy"
#: Bumped when the saved form changes; an older form is ignored (the skops file is used).
FORMAT = 1



@dataclass
class ColumnSpec:
    """One fitted vectoriser, as data."""

    index: int
    analyzer: str  # "word" or "char_wb"
    ngram_range: tuple[int, int]
    lowercase: bool
    vocabulary: dict[str, int]  # term -> feature index in the stacked matrix
    idf: list[float] | None  # per local feature; None for plain counts
    offset: int
    binary: bool
    sublinear: bool
    l2: bool


def word_analyzer(ngram_range: tuple[int, int], lowercase: bool) -> Callable[[str], list[str]]:
    """scikit-learn's word analyzer with ``token_pattern=r"\\S+"`` and no stop words.

    Bigrams and trigrams are built from zipped token lists (the same strings
    in the same order as joining slices, with less work per n-gram). The
    tokens are ``str.split``'s: ``\S+`` finds the same (``\s`` is ``str.isspace``,
    checked over every code point in tests/test_recipient_features.py), with no pattern to run.
    """
    low, high = ngram_range

    def analyze(text: str) -> list[str]:
        tokens = (text.lower() if lowercase else text).split()
        if high == 1:
            return tokens
        grams = list(tokens) if low == 1 else []
        if low <= 2 <= high:
            grams += [f"{a} {b}" for a, b in zip(tokens, tokens[1:])]
        if low <= 3 <= high:
            grams += [f"{a} {b} {c}" for a, b, c in zip(tokens, tokens[1:], tokens[2:])]
        for n in range(max(low, 4), min(high, len(tokens)) + 1):
            grams += [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
        return grams

    return analyze


def char_wb_analyzer(ngram_range: tuple[int, int], lowercase: bool) -> Callable[[str], list[str]]:
    """scikit-learn's ``char_wb`` analyzer: character n-grams inside space-padded words.

    scikit-learn collapses runs of white space before splitting into words;
    ``str.split`` drops every run itself, so the words are the same (see :func:`word_analyzer`).
    """
    low, high = ngram_range

    def analyze(text: str) -> list[str]:
        grams: list[str] = []
        for word in (text.lower() if lowercase else text).split():
            word = f" {word} "
            size = len(word)
            for n in range(low, high + 1):
                grams += [word[i : i + n] for i in range(max(size - n + 1, 1))]  # a short word: itself, once
                if size <= n:
                    break
        return grams

    return analyze


ANALYZERS = {"word": word_analyzer, "char_wb": char_wb_analyzer}


def _implemented(vectorizer: Any) -> bool:
    """Whether the analyzers above reproduce this fitted vectoriser's tokens."""
    if vectorizer.analyzer not in ANALYZERS:
        return False
    if vectorizer.analyzer == "word" and vectorizer.token_pattern != r"\S+":
        return False
    return not (vectorizer.stop_words or vectorizer.strip_accents or vectorizer.preprocessor or vectorizer.tokenizer)


class FastScorer:
    """Margins of a fitted ``columns -> LinearSVC`` model for one input row."""

    def __init__(self, classes: list[str], columns: list[ColumnSpec], weights: np.ndarray, intercept: np.ndarray):
        self.classes = classes
        self.columns = columns
        self.weights = np.ascontiguousarray(weights, dtype=np.float64)  # (n_features, n_classes)
        self.intercept = np.asarray(intercept, dtype=np.float64)
        self._plan = [_plan(c) for c in columns]
        size = sum(len(c.idf) if c.idf is not None else len(c.vocabulary) for c in columns)
        if size != self.weights.shape[0]:
            raise ValueError(f"fast scorer: {size} features but the classifier has {self.weights.shape[0]}")

    @classmethod
    def from_pipeline(cls, pipeline: Any) -> "FastScorer":
        """Compile a fitted scikit-learn pipeline (``columns`` step, then a linear classifier)."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        columns = pipeline.named_steps["columns"]
        classifier = pipeline.steps[-1][1]
        coef = np.asarray(classifier.coef_, dtype=np.float64)
        if coef.shape[0] == 1:  # binary problem: one margin, for classes_[1]
            coef = np.vstack([-coef, coef])
            intercept = np.array([-classifier.intercept_[0], classifier.intercept_[0]])
        else:
            intercept = np.asarray(classifier.intercept_, dtype=np.float64)
        specs: list[ColumnSpec] = []
        offset = 0
        scale = dict(columns.transformer_weights or {})
        coef = coef.copy()
        for name, vectorizer, column in columns.transformers_:
            if vectorizer == "drop" or name == "remainder":
                continue
            if not _implemented(vectorizer):
                raise ValueError(f"fast scorer: column {name!r} uses vectoriser settings it does not implement")
            is_tfidf = isinstance(vectorizer, TfidfVectorizer)
            specs.append(ColumnSpec(
                index=int(column),
                analyzer=vectorizer.analyzer,
                ngram_range=tuple(vectorizer.ngram_range),
                lowercase=bool(vectorizer.lowercase),
                vocabulary={str(term): offset + int(i) for term, i in vectorizer.vocabulary_.items()},
                idf=[float(v) for v in vectorizer.idf_] if is_tfidf else None,
                offset=offset,
                binary=bool(vectorizer.binary),
                sublinear=bool(getattr(vectorizer, "sublinear_tf", False)),
                l2=is_tfidf and vectorizer.norm == "l2",
            ))
            if name in scale:  # the ColumnTransformer multiplies this block's values: fold it into the weights
                coef[:, offset:offset + len(vectorizer.vocabulary_)] *= float(scale[name])
            offset += len(vectorizer.vocabulary_)
        return cls([str(c) for c in classifier.classes_], specs, coef.T, intercept)

    def save(self, folder: Path, dtype: Any = np.float64) -> None:
        """Write ``scorer.json`` and ``scorer.npy`` into ``folder`` (weights as ``dtype``; read back as float64)."""
        spec = {
            "format": FORMAT,
            "classes": self.classes,
            "intercept": self.intercept.tolist(),
            "columns": [asdict(c) for c in self.columns],
        }
        (folder / SCORER_FILE).write_text(json.dumps(spec, ensure_ascii=False, separators=(",", ":")), "utf-8")
        np.save(folder / WEIGHTS_FILE, self.weights.astype(dtype), allow_pickle=False)

    @classmethod
    def load(cls, folder: Path) -> "FastScorer | None":
        """The saved scorer in ``folder``; None when there is none of this format."""
        spec_path, weights_path = folder / SCORER_FILE, folder / WEIGHTS_FILE
        if not (spec_path.is_file() and weights_path.is_file()):
            return None
        spec = json.loads(spec_path.read_text("utf-8"))
        if spec.get("format") != FORMAT:
            return None
        columns = [ColumnSpec(**{**c, "ngram_range": tuple(c["ngram_range"])}) for c in spec["columns"]]
        weights = np.load(weights_path, allow_pickle=False)
        return cls(list(spec["classes"]), columns, weights, np.asarray(spec["intercept"]))

    def margins(self, row: Sequence[str]) -> np.ndarray:
        """One margin per class, as ``decision_function`` would give (bit for bit: same terms, same order, same sums).

        Runs for every failed recipient, so it is written for speed: one look-up
        per term gives its feature index and idf (:func:`_plan`), and the
        weights take one pass.
        """
        indices: list[int] = []
        values: list[float] = []
        log, sublinear_tf = math.log, _SUBLINEAR
        for index, hits, binary, sublinear, l2 in self._plan:
            found = hits(row[index])
            if not found:
                continue
            # Each term's idf is 1.0 in a column without idf: multiplying by it changes no bit.
            if binary:
                weights = [idf for (_, idf), _ in found]
            elif sublinear:
                weights = [(sublinear_tf[n] if n < 256 else 1.0 + log(n)) * idf for (_, idf), n in found]
            else:
                weights = [n * idf for (_, idf), n in found]
            if l2:
                norm = math.sqrt(math.fsum([w * w for w in weights])) or 1.0
                weights = [w / norm for w in weights]
            indices += [j for (j, _), _ in found]
            values += weights
        if not indices:
            return self.intercept.copy()
        rows = self.weights.take(np.fromiter(indices, dtype=np.intp, count=len(indices)), axis=0)  # faster than [indices]
        return np.fromiter(values, dtype=np.float64, count=len(values)) @ rows + self.intercept


#: ``1 + log(n)`` (sublinear term frequency) for the counts a short text has.
_SUBLINEAR = [0.0] + [1.0 + math.log(n) for n in range(1, 256)]
#: A term the vocabulary knows: (feature index, idf); and the terms of one text with their counts.
_Hit = tuple[int, float]
_Hits = Callable[[str], "list[tuple[_Hit, int]]"]
#: A column ready to score: (row index, its text's known terms and counts, binary, sublinear, l2).
_Planned = tuple[int, _Hits, bool, bool, bool]
#: Words whose known character n-grams a ``char_wb`` column remembers (then it starts again).
MEMO_WORDS = 50_000


def _plan(column: ColumnSpec) -> _Planned:
    """What :meth:`FastScorer.margins` needs of a column, with the idf beside each term's index."""
    idf = column.idf
    table = {term: (j, idf[j - column.offset] if idf is not None else 1.0) for term, j in column.vocabulary.items()}
    if column.analyzer == "char_wb":
        hits = _char_wb_hits(tuple(column.ngram_range), column.lowercase, table.get)
    else:
        hits = _term_hits(ANALYZERS[column.analyzer](tuple(column.ngram_range), column.lowercase), table.get)
    return column.index, hits, column.binary, column.sublinear, column.l2


def _term_hits(analyze: Callable[[str], list[str]], lookup: Callable[[str], "_Hit | None"]) -> _Hits:
    """The known terms of a text, in the order of their first occurrence, with their counts."""

    def hits(text: str) -> list[tuple[_Hit, int]]:
        return [(hit, n) for term, n in Counter(analyze(text)).items() if (hit := lookup(term)) is not None]

    return hits


def _char_wb_hits(ngram_range: tuple[int, int], lowercase: bool, lookup: Callable[[str], "_Hit | None"]) -> _Hits:
    """:func:`_term_hits` for ``char_wb``, remembering each word's known n-grams.

    Why: ``char_wb`` n-grams never cross a word, so a text's terms are its
    words' terms, in order; words repeat from message to message ("user",
    "unknown", "mailbox") and building and looking up every n-gram of each
    was half of a recipient's scoring. Same terms, same order of first
    occurrence, same counts as :func:`_term_hits`: the margins do not change.
    """
    grams = char_wb_analyzer(ngram_range, lowercase=False)
    memo: dict[str, tuple[_Hit, ...]] = {}

    def hits(text: str) -> list[tuple[_Hit, int]]:
        known = []
        for word in (text.lower() if lowercase else text).split():  # the analyzer's words: split drops every run
            word_hits = memo.get(word)
            if word_hits is None:
                if len(memo) >= MEMO_WORDS:
                    memo.clear()
                word_hits = memo[word] = tuple(hit for gram in grams(word) if (hit := lookup(gram)) is not None)
            known += word_hits
        return list(Counter(known).items())

    return hits
