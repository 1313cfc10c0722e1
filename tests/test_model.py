"""Retraining can never rot: train + evaluate end to end on a small real set.

Runs the real functions and the real CLI on five messages per category
copied from training_data/ into a temporary folder, then checks what an
admin relies on: a model folder with meta.json, CURRENT pointing at it, a
model that loads only through the trusted list, valid predictions, and an
evaluation that prints every category.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from responsemaster.categories import CATEGORIES
from responsemaster.classify.fields import message_fields
from responsemaster.classify.model.dataset import data_hash, load_examples
from responsemaster.classify.model.estimator import TrainedModel, rows_for
from responsemaster.classify.model import fastpath
from responsemaster.classify.model.fastpath import SCORER_FILE, WEIGHTS_FILE, FastScorer
from responsemaster.classify.model.store import CURRENT, MODEL_FILE, TRUSTED, load_current_model, load_model
from responsemaster.classify.model.training import train_model
from responsemaster.cli import main
from responsemaster.parse.message import parse_message

REPO = Path(__file__).resolve().parent.parent
PER_CATEGORY = 5


@pytest.fixture(scope="module")
def small_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Up to five real messages per category, in the training_data layout."""
    data = tmp_path_factory.mktemp("data")
    for category in CATEGORIES:
        files = sorted((REPO / "training_data" / category).glob("*.eml"))[:PER_CATEGORY]
        assert files, f"training_data/{category} is empty"
        (data / category).mkdir()
        for path in files:
            shutil.copyfile(path, data / category / path.name)
    return data


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("work")
    (work / "responsemaster.toml").write_text('[classify]\nmodels_dir = "models"\n', "utf-8")
    return work


@pytest.fixture(scope="module")
def trained(small_data: Path, workdir: Path) -> Path:
    """``responsemaster train`` through the CLI; returns the models folder."""
    result = CliRunner().invoke(main, ["train", "--config", str(workdir / "responsemaster.toml"),
                                       "--data", str(small_data)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return workdir / "models"


def test_train_writes_model_meta_and_current(trained: Path, small_data: Path) -> None:
    model_id = (trained / CURRENT).read_text().strip()
    folder = trained / model_id
    assert (folder / MODEL_FILE).is_file() and (folder / "meta.json").is_file()
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["model_id"] == model_id and model_id.endswith(meta["data_sha256"][:10])
    assert meta["data_sha256"] == data_hash(small_data, load_examples(small_data))
    assert sorted(meta["labels"]) == sorted(CATEGORIES)
    assert all(meta["counts"][c] >= 1 for c in CATEGORIES)
    for library in ("scikit-learn", "skops", "spacy", "spacy-lookups-data", "numpy"):
        assert meta["libraries"][library]
    cv = meta["cross_validation"]
    assert 0.0 <= cv["macro_f1"] <= 1.0 and set(cv["per_category"]) >= set(CATEGORIES)
    assert meta["temperature"] > 0


def test_model_loads_through_the_trusted_list_and_predicts(trained: Path, small_data: Path) -> None:
    import skops.io as sio

    folder = trained / (trained / CURRENT).read_text().strip()
    assert set(sio.get_untrusted_types(file=folder / MODEL_FILE)) <= set(TRUSTED)
    model = load_current_model(trained)
    assert model is not None and model.model_id == folder.name
    for path in sorted(small_data.glob("*/*.eml"))[::3]:
        msg = parse_message(path.read_bytes())
        category, probability = model.predict(msg, message_fields(msg))
        assert category in CATEGORIES
        assert 0.0 < probability <= 1.0


def test_a_model_file_naming_untrusted_code_is_refused(trained: Path, tmp_path: Path) -> None:
    """A swapped model.skops that would call os.system is not loaded."""
    import os

    import skops.io as sio
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer
    from skops.io.exceptions import UntrustedTypesFoundException

    folder = trained / (trained / CURRENT).read_text().strip()
    evil = tmp_path / "evil"
    shutil.copytree(folder, evil)
    sio.dump(Pipeline([("x", FunctionTransformer(os.system))]), evil / MODEL_FILE)
    with pytest.raises(UntrustedTypesFoundException):
        load_model(evil).fitted()  # the compiled scorer loads; the pipeline, when asked for, does not
    (evil / SCORER_FILE).unlink()
    with pytest.raises(UntrustedTypesFoundException):
        load_model(evil)


def test_a_scorer_file_holding_pickled_objects_is_refused(trained: Path, tmp_path: Path) -> None:
    folder = trained / (trained / CURRENT).read_text().strip()
    evil = tmp_path / "evil"
    shutil.copytree(folder, evil)
    np.save(evil / WEIGHTS_FILE, np.array([object()], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="pickle"):
        load_model(evil)


def test_predicting_with_a_saved_model_needs_no_scikit_learn(trained: Path, small_data: Path) -> None:
    """Loading skops imports most of scikit-learn (seconds); prediction reads the compiled scorer."""
    import subprocess
    import sys

    sample = sorted(small_data.glob("*/*.eml"))[0]
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from responsemaster.classify.fields import message_fields\n"
        "from responsemaster.classify.model.store import load_current_model\n"
        "from responsemaster.parse.message import parse_message\n"
        f"model = load_current_model(Path({str(trained)!r}))\n"
        f"msg = parse_message(Path({str(sample)!r}).read_bytes())\n"
        "print(model.predict(msg, message_fields(msg))[0])\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'skops', 'scipy'))[:3])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] in CATEGORIES
    assert out[1] == "[]"


def test_no_model_means_none(tmp_path: Path) -> None:
    assert load_current_model(tmp_path) is None
    (tmp_path / CURRENT).write_text("../../etc\n")
    assert load_current_model(tmp_path) is None


def test_evaluate_cross_validates_and_prints_every_category(trained: Path, small_data: Path, workdir: Path) -> None:
    config = str(workdir / "responsemaster.toml")
    for args in (["evaluate", "--config", config], ["evaluate", "--config", config, "--data", str(small_data)]):
        if args[-1] == config:
            # cross-validation on the default data: point it at the small set through the config
            (workdir / "cv.toml").write_text(
                f'[classify]\nmodels_dir = "models"\ntraining_data = "{small_data}"\n', "utf-8")
            args = ["evaluate", "--config", str(workdir / "cv.toml")]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output + repr(result.exception)
        for category in CATEGORIES:
            assert category in result.output
        assert "macro-F1" in result.output and "confusion matrix" in result.output


@pytest.fixture(scope="module")
def held_out(small_data: Path) -> tuple[TrainedModel, Path]:
    """A model trained through the API with one corpus file left out (as the benchmark does)."""
    examples = load_examples(small_data)
    left_out = next(e for e in examples if "--" in e.path.name)
    corpus_name = left_out.path.name.split("--", 1)[1]  # the name in ../shared/corpus/<set>/
    kept = load_examples(small_data, exclude={corpus_name})
    assert len(kept) == len(examples) - 1 and left_out.path not in {e.path for e in kept}
    return train_model(kept), left_out.path


def test_api_for_benchmarks_holds_corpus_files_out(held_out: tuple[TrainedModel, Path]) -> None:
    model, path = held_out
    msg = parse_message(path.read_bytes())
    assert model.predict(msg, message_fields(msg))[0] in CATEGORIES


def test_fast_scorer_matches_scikit_learn(held_out: tuple[TrainedModel, Path], small_data: Path, tmp_path: Path) -> None:
    """The compiled scorer, saved and loaded back, computes exactly the pipeline's margins."""
    model = held_out[0]
    examples = load_examples(small_data)
    rows = rows_for([e.read() for e in examples], model.normaliser)
    expected = model.fitted().decision_function(rows)
    FastScorer.from_pipeline(model.fitted()).save(tmp_path)
    scorer = FastScorer.load(tmp_path)
    assert scorer is not None and scorer.classes == [str(c) for c in model.fitted().classes_]
    got = np.array([scorer.margins(list(row)) for row in rows])
    assert np.allclose(got, expected, atol=1e-6)


def test_plain_and_numpy_sums_give_the_same_bits(trained: Path, small_data: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A one-file classify sums in plain Python, a batch with numpy (fastpath.use_numpy): a message must
    get the same margins, to the bit, either way, on real rows of the message model and both recipient heads."""
    from responsemaster.classify.model.recipient_model import HEADS, RecipientModel
    from responsemaster.classify.model.recipient_training import recipient_examples, rows_of
    from responsemaster.classify.pipeline import Classifier

    folder = trained / (trained / CURRENT).read_text().strip()
    examples = load_examples(small_data)
    message_model = load_model(folder)
    recipient_model = RecipientModel.load(folder)
    assert recipient_model is not None and message_model.scorer is not None
    recipient_rows = [tuple(row) for row in rows_of(recipient_examples(examples, Classifier()))]
    cases = [(message_model.scorer, [list(row) for row in rows_for([e.read() for e in examples],
                                                                   message_model.normaliser)])]
    cases += [(recipient_model.heads[head], recipient_rows) for head in HEADS]
    monkeypatch.setattr(fastpath, "_numpy", None)
    plain = [[scorer.margins(row) for row in rows] for scorer, rows in cases]
    monkeypatch.setattr(fastpath, "_numpy", np)
    summed = [[scorer.margins(row) for row in rows] for scorer, rows in cases]
    assert all(scorer._dense is not None for scorer, _ in cases)  # numpy did sum
    assert sum(len(rows) for _, rows in cases) >= 100 and summed == plain


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("version", [(1, 0), (2, 0)])
def test_weights_are_read_without_numpy_as_numpy_wrote_them(tmp_path: Path, dtype: type, order: str,
                                                             version: tuple[int, int]) -> None:
    weights = np.asarray(np.random.default_rng(7).normal(size=(13, 5)), dtype=dtype, order=order)
    path = tmp_path / "w.npy"
    with path.open("wb") as handle:
        np.lib.format.write_array(handle, weights, version=version)
    values, shape = fastpath.read_npy(path)
    assert shape == (13, 5) and values.tolist() == weights.ravel(order="C").astype(np.float64).tolist()


@pytest.mark.parametrize("weights", [np.zeros(5), np.zeros((2, 3), dtype=np.int64), np.zeros((2, 2, 2))])
def test_weights_of_another_type_or_shape_are_an_error(tmp_path: Path, weights: np.ndarray) -> None:
    np.save(tmp_path / "w.npy", weights)
    with pytest.raises(ValueError, match="not a 2-D float array"):
        fastpath.read_npy(tmp_path / "w.npy")


def test_fast_analyzers_give_scikit_learns_tokens(held_out: tuple[TrainedModel, Path], small_data: Path) -> None:
    """Token for token, on real message columns, for every fitted vectoriser."""
    model = held_out[0]
    rows = rows_for([e.read() for e in load_examples(small_data)], model.normaliser)
    scorer = FastScorer.from_pipeline(model.fitted())
    vectorizers = [v for name, v, _ in model.fitted().named_steps["columns"].transformers_ if name != "remainder"]
    assert len(vectorizers) == len(scorer.columns)
    for vectorizer, column in zip(vectorizers, scorer.columns):
        analyze = fastpath.ANALYZERS[column.analyzer](column.ngram_range, column.lowercase)
        reference = vectorizer.build_analyzer()
        for row in rows:
            assert analyze(row[column.index]) == reference(row[column.index])


def test_char_ngrams_remembered_per_word_are_the_texts_terms(held_out: tuple[TrainedModel, Path], small_data: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A char_wb column's known terms, built word by word from remembered words, equal the whole text's.

    Same terms, same order of first occurrence, same counts: the margins'
    sums come out bit for bit. The memory is bounded (MEMO_WORDS, shrunk
    here so that it fills and starts again many times).
    """
    monkeypatch.setattr(fastpath, "MEMO_WORDS", 50)
    model = held_out[0]
    rows = rows_for([e.read() for e in load_examples(small_data)], model.normaliser)
    scorer = FastScorer.from_pipeline(model.fitted())
    columns = [c for c in scorer.columns if c.analyzer == "char_wb"]
    assert columns
    for column in columns:
        table = {term: (j, column.idf[j - column.offset] if column.idf else 1.0) for term, j in column.vocabulary.items()}
        analyze = fastpath.char_wb_analyzer(column.ngram_range, column.lowercase)
        whole_text = fastpath._term_hits(analyze, table.get)
        by_word = fastpath._char_wb_hits(column.ngram_range, column.lowercase, table.get)
        texts = [row[column.index] for row in rows] * 2  # the second pass reads remembered words
        assert sum(len(whole_text(t)) for t in texts) > 100
        for text in texts:
            assert by_word(text) == whole_text(text)


def test_train_from_the_cli_is_in_the_operation_log(trained: Path, workdir: Path) -> None:
    from api import oplog
    from responsemaster.config import load_settings
    from responsemaster.store import open_store

    store = open_store(load_settings(workdir / "responsemaster.toml"))
    try:
        with store.reader() as session:
            rows = oplog.query(session, operation="model.train")
    finally:
        store.close()
    assert [row.target for row in rows] == [(trained / CURRENT).read_text().strip()]
    assert rows[0].actor.startswith("cli:")


def test_the_recipient_model_is_saved_safely_and_its_scorer_matches_scikit_learn(trained: Path, small_data: Path) -> None:
    """``train`` writes the recipient heads as skops (trusted types only) and compiled scorers equal to them."""
    import skops.io as sio

    from responsemaster.classify.model.recipient_model import HEADS, RecipientModel
    from responsemaster.classify.model.recipient_training import recipient_examples, rows_of
    from responsemaster.classify.pipeline import Classifier

    folder = trained / (trained / CURRENT).read_text().strip()
    model = RecipientModel.load(folder)
    assert model is not None and model.name == f"rmodel:{folder.name}"
    rows = rows_of(recipient_examples(load_examples(small_data), Classifier()))
    assert len(rows) >= 10
    for head in HEADS:
        path = folder / "recipient" / head / MODEL_FILE
        assert set(sio.get_untrusted_types(file=path)) <= set(TRUSTED)
        pipeline = sio.load(path, trusted=TRUSTED)
        expected = np.atleast_2d(pipeline.decision_function(rows))
        got = np.array([model.heads[head].margins(tuple(row)) for row in rows])
        assert np.allclose(got, expected, atol=1e-4), head  # weights stored as float32


def test_remembered_probabilities_are_the_scored_ones_and_the_memory_is_bounded(
        trained: Path, small_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The recipient model remembers probabilities per evidence: asked again, or asked after it forgot
    (MEMO_EVIDENCE reached), it answers what scoring the evidence gives; a caller changing the answer
    changes nothing the model remembers."""
    from responsemaster.classify.model import recipient_model as module
    from responsemaster.classify.model.fastpath import probabilities
    from responsemaster.classify.model.recipient_training import recipient_examples, rows_of
    from responsemaster.classify.pipeline import Classifier

    folder = trained / (trained / CURRENT).read_text().strip()
    model = module.RecipientModel.load(folder)
    assert model is not None
    rows = [tuple(row) for row in rows_of(recipient_examples(load_examples(small_data), Classifier()))]
    assert len(set(rows)) >= 10
    monkeypatch.setattr(module, "MEMO_EVIDENCE", 4)

    def scored(head: str, row: tuple[str, ...]) -> dict[str, float]:
        scorer = model.heads[head]
        return dict(zip(scorer.classes, probabilities(scorer.margins(row), model.temperatures[head])))

    for _ in range(2):  # the second pass meets forgotten and remembered evidence
        for row in rows:
            for head in module.HEADS:
                answer = model.probabilities(head, row)
                assert answer == scored(head, row)
                answer.clear()
            assert len(model._memo) <= 4
    assert model.probabilities("category", rows[-1]) == scored("category", rows[-1])


def test_a_toy_model_beats_the_majority_class_on_held_out_mail() -> None:
    """Trained on a slice of training_data/, tested on a disjoint slice: far better than always guessing one class."""
    from collections import Counter

    train, test = [], []
    for category in CATEGORIES:
        files = sorted((REPO / "training_data" / category).glob("*.eml"))
        train += [(p, category) for p in files[:12]]
        test += [(p, category) for p in files[12:16]]
    examples = {e.path: e for e in load_examples(REPO / "training_data")}
    model = train_model([examples[p] for p, _ in train if p in examples])
    predicted = model.predict_raw([p.read_bytes() for p, _ in test])
    truth = [c for _, c in test]
    accuracy = sum(p == t for p, t in zip(predicted, truth)) / len(truth)
    majority = Counter(c for _, c in train).most_common(1)[0][0]
    baseline = sum(t == majority for t in truth) / len(truth)
    assert accuracy >= baseline + 0.3, (accuracy, baseline)
    assert len(set(predicted)) >= 5


def test_generated_bounces_weigh_one_share_per_text_and_unseen_stages_teach_nothing() -> None:
    """The lab sends one reply through four MTAs: its copies share one weight; a stage the DSN hides is no label."""
    from responsemaster.classify.model.dataset import RecipientLabel
    from responsemaster.classify.model.recipient_features import Evidence
    from responsemaster.classify.model.recipient_training import (
        SETTINGS, RecipientExample, _stage_unseen, example_weights)
    from responsemaster.verdict import RecipientVerdict

    def example(words: str, generated: bool = False, correction: bool = False) -> RecipientExample:
        return RecipientExample(Evidence(words, words, "cmd:RCPT"), "hard_bounce", "userunknown", "o", "f.eml",
                                correction, generated)

    weights = example_weights([example("a", True), example("a", True), example("a", True), example("b", True),
                               example("a"), example("a", correction=True)])
    share = SETTINGS["generated_weight"]
    assert list(weights) == pytest.approx([share / 3] * 3 + [share, 1.0, SETTINGS["correction_weight"]])
    unseen = RecipientVerdict("a@b.example", "", "", command="")
    assert _stage_unseen(unseen, RecipientLabel("a@b.example", "mail_block", "filtered", stage="data"))
    assert not _stage_unseen(RecipientVerdict("a@b.example", "", "", command="DATA"),
                             RecipientLabel("a@b.example", "mail_block", "filtered", stage="data"))
    assert not _stage_unseen(unseen, RecipientLabel("a@b.example", "mailbox_full", "mailboxfull", stage="rcpt"))


def test_the_tokenizers_vocabulary_stays_bounded_on_garbage(monkeypatch: pytest.MonkeyPatch) -> None:
    """spaCy learns every string it meets: a worker fed random words must not grow without end.

    The first KEEP_WORDS strings are kept for good (the common words need no
    new lexeme each time); past that each text is read in a memory zone, so
    the words it adds (lexemes and their strings, about 0.5 KB each outside
    Python objects) are freed after it: the string store stops growing.
    """
    import random

    from responsemaster.classify.model import features

    monkeypatch.setattr(features, "KEEP_WORDS", 1_000)
    norm = features.Normaliser()
    norm.tokens_at("warm up", "en")
    strings = norm._tokenizers["en"].vocab.strings  # type: ignore[attr-defined]
    before = len(strings)
    rng = random.Random(7)
    sizes = []
    for _ in range(40):
        garbage = " ".join("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(9)) for _ in range(200))
        tokens = norm.tokens(garbage, "en")
        assert len(tokens) == 200 and all(len(t) == 9 for t in tokens)  # read whole, in a zone or not
        sizes.append(len(strings))
    kept = sizes[-1] - before
    assert 1_000 <= kept < 1_000 + 2 * 200 + 10  # up to the budget (plus the one text that crossed it)...
    assert sizes[-1] == sizes[10]  # ...and not one string more after it: 6,000 random words later
    text = "Thank you for the message, I will be out of the office until Monday."
    assert norm.tokens_at(text, "en") == features.Normaliser().tokens_at(text, "en")  # a fresh one reads the same


@settings(max_examples=500, deadline=None)
@given(word=st.text(min_size=1, max_size=12).filter(str.isalpha))
def test_a_word_of_letters_only_is_kept_as_it_is_by_the_recipient_evidence(word: str) -> None:
    """``normalise`` keeps a letters-only token without its code, status and digit checks: none of
    them can match one (letters and decimal digits are disjoint Unicode categories)."""
    from responsemaster.classify.model import recipient_features as rf

    assert not (rf._STATUS.fullmatch(word.lstrip("#")) or rf._CODE.match(word) or rf._DIGITS.search(word))


def test_the_recipient_evidence_keeps_codes_and_words_and_zeroes_other_numbers() -> None:
    from responsemaster.classify.model.recipient_features import normalise

    assert normalise("550 5.1.1 Mailbox unavailable, queue id 4A2f9 ٣٤") == "550 5.1.1 mailbox unavailable queue id 0a0f0 00"
