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
A row is scored with dictionary look-ups and one small weighted sum per
class. The analyzers below re-implement the two scikit-learn analyzers the
pipeline uses (whitespace tokens with word n-grams; ``char_wb`` n-grams);
the test suite checks they produce scikit-learn's exact tokens and that the
margins equal ``pipeline.decision_function`` on real messages.

The sums are done in plain Python until :func:`use_numpy` is called, then
with numpy: importing numpy was a fifth of a one-file ``classify`` (0.28 G
of 1.33 G instructions), for a few recipients, while over thousands numpy's
sums save about 20 microseconds a recipient. Commands that read many
messages call it once, before they start (``classify`` past a few hundred
messages, the worker). Both add the same products in the same order, one
after the other, so the margins are the same bits either way (checked by
the tests): a message gets the same verdict in a one-file run and in a
batch.
"""

from __future__ import annotations

import ast
import json
import math
import struct
import sys
from array import array
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from operator import mul
from pathlib import Path
from typing import Any

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
    r"""scikit-learn's word analyzer with ``token_pattern=r"\S+"`` and no stop words.

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


#: Set by :func:`use_numpy`: scorers sum with numpy from then on.
_numpy: Any = None


def use_numpy() -> None:
    """Sum with numpy from now on (importing it once): for a command about to read many messages."""
    global _numpy
    if _numpy is None:
        import numpy

        _numpy = numpy


class FastScorer:
    """Margins of a fitted ``columns -> LinearSVC`` model for one input row."""

    def __init__(self, classes: list[str], columns: list[ColumnSpec], weights: array, intercept: Sequence[float]):
        self.classes = classes
        self.columns = columns
        #: The linear model's weights, feature after feature (one per class each), as saved.
        self.weights = weights
        self.intercept = [float(b) for b in intercept]
        self._plan = [_plan(c) for c in columns]
        size = sum(len(c.idf) if c.idf is not None else len(c.vocabulary) for c in columns)
        if size * len(classes) != len(weights):
            raise ValueError(f"fast scorer: {size} features and {len(classes)} classes, but {len(weights)} weights")
        self._dense: Any = None  # (weights as a numpy matrix, intercept as a numpy vector), once numpy is used

    @classmethod
    def from_pipeline(cls, pipeline: Any) -> "FastScorer":
        """Compile a fitted scikit-learn pipeline (``columns`` step, then a linear classifier)."""
        import numpy as np
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
        weights = array("d", np.ascontiguousarray(coef.T, dtype=np.float64).tobytes())
        return cls([str(c) for c in classifier.classes_], specs, weights, intercept.tolist())

    def save(self, folder: Path, dtype: str = "float64") -> None:
        """Write ``scorer.json`` and ``scorer.npy`` into ``folder`` (weights as ``dtype``; at training, with numpy)."""
        import numpy as np

        spec = {
            "format": FORMAT,
            "classes": self.classes,
            "intercept": self.intercept,
            "columns": [asdict(c) for c in self.columns],
        }
        (folder / SCORER_FILE).write_text(json.dumps(spec, ensure_ascii=False, separators=(",", ":")), "utf-8")
        matrix = np.frombuffer(self.weights, dtype=np.dtype(self.weights.typecode)).reshape(-1, len(self.classes))
        np.save(folder / WEIGHTS_FILE, matrix.astype(np.dtype(dtype)), allow_pickle=False)

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
        weights, shape = read_npy(weights_path)
        if shape[1:] != (len(spec["classes"]),):
            raise ValueError(f"{weights_path}: weights of shape {shape} for {len(spec['classes'])} classes")
        return cls(list(spec["classes"]), columns, weights, spec["intercept"])

    def margins(self, row: Sequence[str]) -> list[float]:
        """One margin per class, as ``decision_function`` would give (the same products, summed in another order).

        Runs for every failed recipient, so it is written for speed: one look-up
        per term gives its feature index and idf (:func:`_plan`); each class's
        margin is the sum of the terms' values times their weights, added one
        after the other, then the intercept.
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
            return list(self.intercept)
        if _numpy is not None:
            return self._numpy_sums(indices, values)
        size, flat = len(self.classes), self.weights
        picked = [flat[j * size:j * size + size] for j in indices]
        return [b + sum(map(mul, values, column)) for b, column in zip(self.intercept, zip(*picked))]

    def _numpy_sums(self, indices: list[int], values: list[float]) -> list[float]:
        """:meth:`margins`' sums with numpy: a sum over the first axis adds the rows one after the other, as ``sum``."""
        np = _numpy
        if self._dense is None:
            matrix = np.frombuffer(self.weights, dtype=np.dtype(self.weights.typecode)).reshape(-1, len(self.classes))
            self._dense = matrix.astype(np.float64), np.array(self.intercept, dtype=np.float64)
        matrix, intercept = self._dense
        rows = matrix.take(np.fromiter(indices, dtype=np.intp, count=len(indices)), axis=0)
        products = np.fromiter(values, dtype=np.float64, count=len(values))[:, None] * rows
        return (products.sum(axis=0) + intercept).tolist()


def probabilities(margins: Sequence[float], temperature: float) -> list[float]:
    """A temperature-scaled softmax of one row of margins, in plain floats (a handful of classes)."""
    scaled = [m * temperature for m in margins]
    top = max(scaled)
    exp = [math.exp(s - top) for s in scaled]
    total = sum(exp)
    return [e / total for e in exp]


#: The .npy element types scorers' weights are saved as (little-endian floats), as ``array`` type codes.
_NPY_TYPES = {"<f8": "d", "<f4": "f"}


def read_npy(path: Path) -> tuple[array, tuple[int, ...]]:
    """The values (row after row) and shape of the 2-D float array numpy's ``save`` wrote in ``path``, without numpy.

    The format is numpy's documented one (NEP 1): a magic string, a version,
    the length of a header that is a Python dict literal (``descr``,
    ``fortran_order``, ``shape``), then the values in that order.
    """
    data = path.read_bytes()
    if data[:6] != b"\x93NUMPY" or data[6] not in (1, 2, 3):
        raise ValueError(f"{path}: not a .npy file numpy writes")
    size_format, start = ("<H", 10) if data[6] == 1 else ("<I", 12)
    (header_size,) = struct.unpack_from(size_format, data, 8)
    header = ast.literal_eval(data[start:start + header_size].decode("latin-1"))
    shape = tuple(header["shape"])
    if "O" in str(header["descr"]):
        raise ValueError(f"{path}: the weights are pickled Python objects: refused (loading a pickle runs code)")
    if header["descr"] not in _NPY_TYPES or len(shape) != 2:
        raise ValueError(f"{path}: weights of type {header['descr']!r} and shape {shape}, not a 2-D float array")
    values = array(_NPY_TYPES[header["descr"]])
    values.frombytes(data[start + header_size:])
    if sys.byteorder == "big":
        values.byteswap()
    if len(values) != shape[0] * shape[1]:
        raise ValueError(f"{path}: {len(values)} values for shape {shape}")
    if header["fortran_order"]:  # column after column: put them row after row
        values = array(values.typecode, [x for row in zip(*zip(*[iter(values)] * shape[0])) for x in row])
    return values, shape


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
