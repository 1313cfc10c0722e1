"""One rule for "under CI", the same in every fixture: what is missing fails there and skips elsewhere.

The corpus is the case that used to differ (``CI=1`` failed a missing
server but skipped every corpus test): a pytest run in a subprocess with
the corpus pointed at nowhere must fail under any CI value and skip without.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures.servers import under_ci

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("value", "expected"), [
    ("true", True), ("1", True), ("yes", True), ("TRUE", True), ("github-actions", True),
    ("", False), ("0", False), ("false", False), ("False", False), (" ", False),
])
def test_under_ci(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv("CI", value)
    assert under_ci() is expected


def test_unset_is_not_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    assert under_ci() is False


def _run_corpus_test(tmp_path: Path, ci: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["RESPONSEMASTER_CORPUS"] = str(tmp_path / "no-corpus-here")
    if ci is not None:
        env["CI"] = ci
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfs",
         "tests/test_bad_input.py::test_every_message_of_the_corpus_and_training_data_is_mail"],
        capture_output=True, text=True, timeout=180, cwd=REPO, env=env, check=False,
    )
    return proc.stdout


def test_a_missing_corpus_fails_under_ci(tmp_path: Path) -> None:
    out = _run_corpus_test(tmp_path, "1")  # not only CI=true
    assert re.search(r"\b1 (failed|error)\b", out), out[-2000:]
    assert "the labelled corpus is missing" in out and "CI is set" in out


def test_a_missing_corpus_skips_elsewhere(tmp_path: Path) -> None:
    out = _run_corpus_test(tmp_path, "false")
    assert re.search(r"\b1 skipped\b", out) and "the labelled corpus is missing" in out, out[-2000:]
