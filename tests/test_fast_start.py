"""Fast start (issue 13): a command imports what its first message needs, the model loads on
first use and once. Timings are measured in benchmarks/whole_process.py, not asserted here."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from responsemaster.classify.model import LazyModel
from responsemaster.cli import COMMANDS, main

REPO = Path(__file__).resolve().parents[1]
#: Packages a one-file classify must not import (training's, the worker's, the API's, the mailer's): the
#: models' sums are done in plain Python below classify_jobs.SMALL messages (numpy's import was a fifth of it).
HEAVY = ("spacy", "thinc", "sklearn", "numpy", "sqlalchemy", "sqlmodel", "rich", "litestar", "aiosmtpd", "huey",
         "jinja2", "aiosmtplib", "api", "mailer", "flufl")


def _classify_in_a_process(*args: str) -> tuple[list[dict], list[str]]:
    """The verdicts ``responsemaster classify --jsonl ARGS`` prints, and the top-level modules it imported."""
    code = (
        "import json, sys\n"
        "from responsemaster.cli import main\n"
        f"main(['classify', '--jsonl', *{list(args)!r}], standalone_mode=False)\n"
        "sys.stderr.write(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    return [json.loads(line) for line in done.stdout.splitlines()], json.loads(done.stderr.strip().splitlines()[-1])


def _imported_by_classify(path: Path) -> tuple[dict, list[str]]:
    verdicts, modules = _classify_in_a_process(str(path))
    return verdicts[0], modules


def test_classifying_one_bounce_imports_neither_the_message_model_nor_the_worker_nor_the_api(corpus: Path) -> None:
    verdict, modules = _imported_by_classify(corpus / "bounces" / "000194ed06887898.eml")
    assert verdict["category"] == "mailbox_full" and verdict["recipients"][0]["decided_by"].startswith("rmodel:")
    assert [m for m in HEAVY if m in modules] == []  # the recipient model decided its recipient, without numpy


def test_classifying_one_reply_reads_the_message_model_without_numpy(corpus: Path) -> None:
    verdict, modules = _imported_by_classify(corpus / "hand-labelled" / "00121900edd474d1.eml")
    assert verdict["category"] == "user_reply" and verdict["decided_by"].startswith("model:")
    assert [m for m in HEAVY if m in modules] == []


def test_classifying_many_messages_sums_with_numpy_whatever_the_jobs(corpus: Path, tmp_path: Path) -> None:
    """From classify_jobs.SMALL messages on, numpy's import pays for itself (fastpath.use_numpy)."""
    from responsemaster.cli.classify_jobs import SMALL

    bounce = (corpus / "bounces" / "000194ed06887898.eml").read_bytes()
    for count in (SMALL - 1, SMALL):
        folder = tmp_path / str(count)
        folder.mkdir()
        for n in range(count):
            (folder / f"{n:04d}.eml").write_bytes(bounce)
        verdicts, modules = _classify_in_a_process("--jobs", "1", str(folder))
        assert len(verdicts) == count and ("numpy" in modules) == (count >= SMALL)


def test_classifying_one_complaint_loads_no_model_at_all(corpus: Path) -> None:
    verdict, modules = _imported_by_classify(corpus / "hand-labelled" / "00920c54593c0d96.eml")
    assert verdict["category"] == "feedback_loop"
    assert [m for m in HEAVY if m in modules] == []


def test_the_model_is_read_on_first_use_and_once(tmp_path: Path) -> None:
    loads: list[Path] = []
    release = threading.Event()

    class Model:
        model_id = "m1"
        meta = {"labels": ["user_reply"]}

        def predict(self, msg, fields):  # type: ignore[no-untyped-def]
            return "user_reply", 0.9

    def load(folder: Path) -> Model:
        loads.append(folder)
        release.wait(5)  # every thread asks while the first load is still running
        return Model()

    lazy = LazyModel(tmp_path / "m1", load)
    assert lazy.model_id == "m1" and not lazy.loaded and loads == []
    threads = [threading.Thread(target=lazy.predict, args=(None, {})) for _ in range(8)]
    for thread in threads:
        thread.start()
    release.set()
    for thread in threads:
        thread.join()
    assert loads == [tmp_path / "m1"] and lazy.loaded
    assert lazy.predict(None, {}) == ("user_reply", 0.9)
    assert lazy.meta == {"labels": ["user_reply"]}  # the rest of the model's interface, from the loaded model
    assert loads == [tmp_path / "m1"]


def test_the_recipient_models_reason_head_is_read_when_a_recipient_first_needs_it(tmp_path: Path) -> None:
    """The category head decides nearly every recipient; the reason head only where the hand-written
    reason is of another category. A damaged reason head fails that recipient's message, not the load."""
    import shutil

    from responsemaster.classify.model.recipient_features import Evidence
    from responsemaster.classify.model.recipient_model import RecipientModel
    from responsemaster.classify.model.store import current_model_dir

    folder = current_model_dir(REPO / "models")
    assert folder is not None
    model = RecipientModel.load(folder)
    assert model is not None and set(model.heads) == {"category"}
    full = Evidence(words="552 5.2.2 mailbox full quota exceeded", chars="552 5.2.2 mailbox full quota exceeded",
                    facts="st:5.2.2 rc:552 cmd:RCPT")
    decision = model.predict(full, hand_reason="mailboxfull")
    assert decision.category == "mailbox_full" and set(model.heads) == {"category"}  # the hand reason agreed
    decision = model.predict(full, hand_reason="")  # no hand reason: the reason head names one
    assert decision.reason == "mailboxfull" and set(model.heads) == {"category", "reason"}

    copy = tmp_path / folder.name
    shutil.copytree(folder, copy)
    (copy / "recipient" / "reason" / "scorer.json").write_text('{"format": 0}', "utf-8")
    damaged = RecipientModel.load(copy)
    assert damaged is not None and damaged.predict(full, hand_reason="mailboxfull").category == "mailbox_full"
    with pytest.raises(KeyError, match="no reason head of this format"):
        damaged.predict(full, hand_reason="")


def test_build_classifier_leaves_the_shipped_models_unread_until_a_message_needs_them(corpus: Path) -> None:
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from responsemaster.classify import build_classifier\n"
        "c = build_classifier()\n"
        f"c.classify(Path({str(corpus / 'hand-labelled' / '00920c54593c0d96.eml')!r}).read_bytes())\n"
        "print(c.model.loaded, c.recipient_model.loaded, 'spacy' in sys.modules, 'numpy' in sys.modules)\n"
        f"c.classify(Path({str(corpus / 'bounces' / '000194ed06887898.eml')!r}).read_bytes())\n"
        "print(c.model.loaded, c.recipient_model.loaded, 'spacy' in sys.modules)\n"
        "v = c.classify(b'From: Jane <jane@example.org>\\nSubject: Re: news\\n\\nThanks a lot, see you on Monday!\\n')\n"
        "print(c.model.loaded, v.decided_by.startswith('model:'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300).stdout
    assert out.split("\n")[:3] == ["False False False False", "False True False", "True True"]


def test_every_command_is_listed_with_its_own_help_and_loads_by_name() -> None:
    listing = CliRunner().invoke(main, ["--help"]).output
    for name, (module, attribute, summary) in COMMANDS.items():
        command = getattr(importlib.import_module(module), attribute)
        assert command.name == name
        assert command.get_short_help_str(200) == summary  # the table says what the command says
        assert name in listing
    assert CliRunner().invoke(main, ["nonesuch"]).exit_code != 0


def test_telling_whether_there_is_a_recipient_model_names_the_files_it_is_saved_in() -> None:
    from responsemaster.classify.model import fastpath, recipient_model
    from responsemaster.classify.model.store import RECIPIENT_MODEL_FILES

    saved = {f"{recipient_model.FOLDER}/{recipient_model.META_FILE}"} | {
        f"{recipient_model.FOLDER}/{head}/{name}"
        for head in recipient_model.HEADS for name in (fastpath.SCORER_FILE, fastpath.WEIGHTS_FILE)
    }
    assert set(RECIPIENT_MODEL_FILES) == saved


def test_commands_start_numpy_with_one_blas_thread_unless_told_otherwise() -> None:
    """OpenBLAS starts a thread per CPU at numpy's import (0.085 CPU s a command on two CPUs); the
    scorers' vectors never use them. The command sets one, unless the environment says otherwise."""
    import os

    code = (
        "import sys\n"
        "import responsemaster.cli\n"
        "from responsemaster.classify.model.fastpath import use_numpy\n"
        "use_numpy()\n"
        "import threadpoolctl\n"
        "sys.stderr.write(str(sorted(i['num_threads'] for i in threadpoolctl.threadpool_info()"
        " if i['internal_api'] == 'openblas')))\n"
    )
    for given, expected in ((None, "[1]"), ("2", "[2]")):
        env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
        if given is not None:
            env["OPENBLAS_NUM_THREADS"] = given
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120,
                              env=env)
        assert done.stderr.strip().splitlines()[-1] == expected
