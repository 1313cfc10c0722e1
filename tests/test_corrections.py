"""Corrections reach bounces (docs/bounces.md): a person's label for one recipient, learned by ``train``.

The test the issue asks for: a bounce whose recipient a hand-written rule
decides today is corrected with ``responsemaster label --recipient``, the
model is retrained, and a sibling of that bounce (the same refusal for
another address) gets the corrected verdict.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from responsemaster.categories import CATEGORIES
from responsemaster.classify import build_classifier
from responsemaster.classify.model.dataset import load_examples
from responsemaster.classify.pipeline import Classifier
from responsemaster.cli import main
from responsemaster.config import load_settings

REPO = Path(__file__).resolve().parent.parent
#: A Postfix DSN: "550 <kijitora@example.ed.jp>: Recipient address rejected: User unknown in local recipient table".
BOUNCE = "25a7168182752304.eml"
ADDRESS, SIBLING = "kijitora@example.ed.jp", "shironeko@example.ed.jp"
PER_CATEGORY = 3


def _run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


@pytest.fixture()
def bounce(corpus: Path, tmp_path: Path) -> Path:
    path = tmp_path / "bounce.eml"
    shutil.copyfile(corpus / "bounces" / BOUNCE, path)
    return path


def test_label_writes_one_correction_per_message_with_recipient_labels(bounce: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    _run("label", str(bounce), "--category", "mail_block", "--reason", "filtered", "--recipient", ADDRESS,
         "--data", str(data))
    [example] = load_examples(data)
    assert example.category == "mail_block" and example.source.startswith("label:")
    assert [(r.address, r.category, r.reason) for r in example.recipients] == [(ADDRESS, "mail_block", "filtered")]
    assert example.origin == "corrections"
    # Relabelled again: the file moves, one label per message, the row names what it was before.
    _run("label", str(bounce), "--category", "hard_bounce", "--recipient", ADDRESS, "--data", str(data))
    [example] = load_examples(data)
    assert example.category == "hard_bounce" and example.recipients[0].reason == "userunknown"
    rows = [json.loads(line) for line in (data / "relabels.jsonl").read_text().splitlines()]
    assert [r["category"] for r in rows] == ["mail_block", "hard_bounce"] and rows[1]["previous"]


def test_label_refuses_what_it_cannot_mean(bounce: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    unknown = runner.invoke(main, ["label", str(bounce), "--category", "hard_bounce", "--recipient",
                                   "nobody@example.org", "--data", str(tmp_path)])
    assert unknown.exit_code != 0 and ADDRESS in unknown.output
    wrong = runner.invoke(main, ["label", str(bounce), "--category", "hard_bounce", "--reason", "blocked",
                                 "--data", str(tmp_path)])
    assert wrong.exit_code != 0 and "mail_block" in wrong.output
    assert not (tmp_path / "relabels.jsonl").exists()


def test_a_corrected_bounce_changes_the_verdict_of_its_sibling(bounce: Path, tmp_path: Path) -> None:
    raw = bounce.read_bytes()
    sibling = raw.replace(ADDRESS.encode(), SIBLING.encode())
    today = Classifier().classify(sibling).recipients[0]
    assert (today.address, today.category, today.decided_by) == (SIBLING, "hard_bounce", "rule:diag.userunknown")
    data = tmp_path / "data"
    for category in CATEGORIES:
        files = [p for p in sorted((REPO / "training_data" / category).glob("*.eml")) if BOUNCE not in p.name]
        (data / category).mkdir(parents=True)
        for path in files[:PER_CATEGORY]:
            shutil.copyfile(path, data / category / path.name)
    work = tmp_path / "work"
    work.mkdir()
    config = work / "responsemaster.toml"
    config.write_text('[classify]\nmodels_dir = "models"\n', "utf-8")
    _run("label", str(bounce), "--category", "mail_block", "--reason", "filtered", "--recipient", ADDRESS,
         "--data", str(data), "--config", str(config))
    _run("train", "--config", str(config), "--data", str(data))
    settings = load_settings(config)
    after = build_classifier(settings).classify(sibling)
    [rcpt] = after.recipients
    assert (rcpt.address, rcpt.category, rcpt.reason) == (SIBLING, "mail_block", "filtered")
    assert rcpt.decided_by.startswith("rmodel:") and after.category == "mail_block"
