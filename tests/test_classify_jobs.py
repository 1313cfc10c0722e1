"""``classify --jobs N``: the same lines in the same order as one process, and no process outlives the command.

Over a folder of corpus messages with files that are not mail beside them,
and unreadable and non-mail files given by name: ``--jobs 2`` prints exactly
what ``--jobs 1`` prints. The parent SIGKILLed leaves no child; a child
killed makes the command fail with a message instead of waiting forever.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fixtures.processes import describe, tree, wait_gone
from fixtures.worker_setup import unique_copy

from responsemaster.cli.classify_jobs import CHUNK, DEFERRED, IN_FLIGHT, SMALL, outcomes
from responsemaster.ingest.paths import RawItem


def _classify(*args: str | Path, jobs: int) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "responsemaster", "classify", "--jsonl", "--jobs", str(jobs),
                           *map(str, args)], capture_output=True, timeout=600, check=False)


def _folder(tmp_path: Path, corpus_files: list[Path], count: int) -> Path:
    """``count`` corpus messages (each copy with its own Message-ID) and two files that are not mail."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    sources = [path.read_bytes() for path in corpus_files]
    for seq in range(count):
        (folder / f"{seq:05d}.eml").write_bytes(unique_copy(sources[seq % len(sources)], seq))
    (folder / "README.md").write_text("# not mail\n")
    (folder / "00100.bin").write_bytes(os.urandom(3000))
    return folder


def test_two_jobs_print_what_one_prints_in_input_order(tmp_path: Path, corpus_files: list[Path]) -> None:
    folder = _folder(tmp_path, corpus_files, len(corpus_files) + 40)
    garbage = tmp_path / "garbage.eml"
    garbage.write_bytes(b"\x00\x01 this is not mail at all\n" * 50)
    args = (folder, garbage, tmp_path / "missing.eml", folder)  # a path twice: its lines twice, in place
    one, two = _classify(*args, jobs=1), _classify(*args, jobs=2)
    assert one.returncode == two.returncode == 2  # the missing path, after the other lines
    assert two.stdout == one.stdout
    assert two.stderr == one.stderr
    lines = one.stdout.decode().splitlines()
    assert len(lines) == 2 * (len(corpus_files) + 40) + 2
    assert sum('"error"' in line and '"category": null' in line for line in lines) >= 2


def test_small_input_stays_in_one_process_and_big_input_uses_children() -> None:
    def render(_classifier: object, item: RawItem) -> tuple[str, str]:
        return "line", f"{item.label} {os.getpid()}"

    few = [RawItem(f"m{i}", b"") for i in range(SMALL - 1)]
    assert [text for _, text in outcomes(None, few, render, jobs=2)] == [f"m{i} {os.getpid()}" for i in range(SMALL - 1)]
    many = [RawItem(f"m{i}", b"") for i in range(5 * SMALL)]
    got = [text.split() for _, text in outcomes(None, many, render, jobs=2)]
    assert [label for label, _ in got] == [f"m{i}" for i in range(5 * SMALL)]
    assert str(os.getpid()) not in {pid for _, pid in got} and len({pid for _, pid in got}) == 2


class _Model:
    def predict(self) -> int:
        return os.getpid()


class _Classifier:
    def __init__(self) -> None:
        self.model = _Model()


def _render_noting_who(classifier: _Classifier, item: RawItem) -> tuple[str, str]:
    """A message marked so needs the message model: its line names the process whose model answered."""
    if item.raw == b"model":
        return "line", f"{item.label} model {classifier.model.predict()}"
    return "line", f"{item.label} rules {os.getpid()}"


@pytest.mark.parametrize("defer", [True, False])
def test_children_hand_their_first_messages_needing_the_model_back_to_the_parent(defer: bool) -> None:
    """With ``defer`` (the message model not loaded before the fork), each child's first DEFERRED messages that
    use the message model are classified by the parent, the rest by the children; the lines stay in input order.

    Nine messages in ten use the model, so each child's first IN_FLIGHT chunks alone hold more than
    DEFERRED of them: the count does not depend on how the chunks happen to be shared out.
    """
    assert IN_FLIGHT * CHUNK * 9 // 10 >= DEFERRED
    items = [RawItem(f"m{i}", b"" if i % 10 == 0 else b"model") for i in range(10 * SMALL)]
    got = [text.split() for _, text in outcomes(_Classifier(), items, _render_noting_who, jobs=2, defer=defer)]
    assert [label for label, _, _ in got] == [item.label for item in items]
    me = str(os.getpid())
    model_by_parent = [label for label, kind, pid in got if kind == "model" and pid == me]
    assert len(model_by_parent) == (2 * DEFERRED if defer else 0)
    assert all(pid != me for _, kind, pid in got if kind == "rules")
    assert any(kind == "model" and pid != me for _, kind, pid in got)  # past DEFERRED: the children's


class _LazyModel:
    """Stands for ``LazyModel``: loaded on first use; notes the process and thread that loaded it."""

    def __init__(self) -> None:
        self.loaded = False
        self.loaders: list[tuple[int, str]] = []

    def model(self) -> "_LazyModel":
        if not self.loaded:
            self.loaders.append((os.getpid(), threading.current_thread().name))
            self.loaded = True
        return self

    def predict(self) -> int:
        return self.model() and os.getpid()


def _render_saying_whether_loaded(classifier: _Classifier, item: RawItem) -> tuple[str, str]:
    if item.raw == b"model":
        return "line", f"{item.label} model {classifier.model.predict()} -"
    return "line", f"{item.label} rules {os.getpid()} {classifier.model.loaded}"


def test_the_message_model_is_loaded_by_the_parent_after_the_fork_and_reads_what_children_hand_back() -> None:
    """A run of bounces needs the message model for a few messages: no child waits for it before its first
    message (it is not loaded before the fork), none loads it, and the parent, which loads it in a thread
    while the children work, classifies the messages that need it."""
    classifier = _Classifier()
    classifier.model = _LazyModel()  # type: ignore[assignment]
    items = [RawItem(f"m{i}", b"model" if i % 100 == 7 else b"") for i in range(5 * SMALL)]
    got = [text.split() for _, text in outcomes(classifier, items, _render_saying_whether_loaded, jobs=2)]
    assert [label for label, *_ in got] == [item.label for item in items]
    me = str(os.getpid())
    assert {pid for _, kind, pid, _ in got if kind == "model"} == {me}
    assert {(pid != me, loaded) for _, kind, pid, loaded in got if kind == "rules"} == {(True, "False")}
    assert classifier.model.loaders == [(os.getpid(), "rm-classify-prepare")]


def _start_big(tmp_path: Path, corpus_files: list[Path]) -> tuple[subprocess.Popen[bytes], set[tuple[int, int]]]:
    """``classify --jobs 2`` on enough mail to run for a while; it and its two children, once they run."""
    folder = _folder(tmp_path, corpus_files, 4000)
    proc = subprocess.Popen([sys.executable, "-m", "responsemaster", "classify", "--jsonl", "--jobs", "2", str(folder)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.readline()  # the first line is out: the children are classifying
    children = tree(proc.pid) - {p for p in tree(proc.pid) if p[0] == proc.pid}
    if len(children) != 2:
        proc.kill()
        pytest.fail(f"expected two children: {describe(tree(proc.pid))}")
    return proc, children


def test_children_die_with_a_sigkilled_parent(tmp_path: Path, corpus_files: list[Path]) -> None:
    proc, children = _start_big(tmp_path, corpus_files)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    left = wait_gone(children, timeout=5.0)
    assert not left, describe(left)


def test_a_killed_child_is_an_error_not_a_hang(tmp_path: Path, corpus_files: list[Path]) -> None:
    proc, children = _start_big(tmp_path, corpus_files)
    started = time.monotonic()
    os.kill(min(children)[0], signal.SIGKILL)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err.decode()[-2000:]
    assert b"died (killed by signal 9)" in err
    assert time.monotonic() - started < 120
    assert not wait_gone(children, timeout=5.0)


def test_help_documents_jobs() -> None:
    out = subprocess.run([sys.executable, "-m", "responsemaster", "classify", "--help"], capture_output=True, text=True,
                         check=True).stdout
    assert "--jobs" in out and "input order" in out


def test_a_folder_run_by_several_processes_never_imports_spacy_with_the_shipped_model(tmp_path: Path) -> None:
    """The shipped model reads text with its exported tokenizers: no process hands messages back to a parent
    that would import spaCy for them (half a second and ~77 MB), and the lines are those of one process."""
    replies = sorted((Path(__file__).parent.parent / "training_data" / "user_reply").glob("*.eml"))[:30]
    folder = tmp_path / "replies"
    folder.mkdir()
    for seq in range(SMALL + 50):
        (folder / f"{seq:05d}.eml").write_bytes(unique_copy(replies[seq % len(replies)].read_bytes(), seq))
    code = ("import sys\n"
            "from responsemaster.classify import build_classifier\n"
            "from responsemaster.cli.classify_cmd import _render\n"
            "from responsemaster.cli.classify_jobs import _model_imports_spacy, outcomes\n"
            "from responsemaster.config import load_settings\n"
            "from responsemaster.ingest.paths import iter_paths\n"
            "classifier = build_classifier(load_settings(None))\n"
            "render = lambda c, item: _render(True, c, item)\n"
            f"lines = [text for _, text in outcomes(classifier, iter_paths([{str(folder)!r}]), render, jobs=2)]\n"
            "print(len(lines), sum('\"model:' in line for line in lines), _model_imports_spacy(classifier),"
            " 'spacy' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    count, by_model, imports, imported = out.stdout.split()
    assert int(count) == SMALL + 50 and int(by_model) > 0  # the model did read messages...
    assert (imports, imported) == ("False", "False")  # ...and nobody imported spaCy for it


def test_an_older_model_without_exported_tokenizers_still_defers_to_the_parent(tmp_path: Path) -> None:
    """A model folder without ``tokenizer-<lang>.json`` (trained before them) reads with spaCy's tokenizer:
    the children then hand their first such messages back, as before, instead of each importing spaCy."""
    import shutil

    from responsemaster.classify.model.features import Normaliser
    from responsemaster.classify.model.store import current_model_dir

    shipped = current_model_dir(Path(__file__).parent.parent / "models")
    assert Normaliser(tokenizer_dir=shipped).imports_spacy() is False
    assert Normaliser().imports_spacy() is True  # training's: spaCy's tokenizers
    older = tmp_path / "older"
    shutil.copytree(shipped, older)
    (older / "tokenizer-de.json").unlink()  # one language read by spaCy is enough
    assert Normaliser(tokenizer_dir=older).imports_spacy() is True
    from types import SimpleNamespace

    from responsemaster.cli.classify_jobs import _model_imports_spacy

    def classifier(folder: Path) -> object:
        return SimpleNamespace(model=SimpleNamespace(normaliser=Normaliser(tokenizer_dir=folder)))

    assert (_model_imports_spacy(classifier(older)), _model_imports_spacy(classifier(shipped))) == (True, False)
    assert _model_imports_spacy(SimpleNamespace(model=None)) is False  # no model: nothing to defer
