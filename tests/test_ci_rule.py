"""One rule for "under CI", the same in every fixture: what is missing fails there and skips elsewhere.

The corpus is the case that used to differ (``CI=1`` failed a missing
server but skipped every corpus test): with the corpus pointed at nowhere,
its fixture must fail under any CI value and skip without.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import _require_corpus
from fixtures.servers import under_ci


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


@pytest.mark.parametrize("ci", ["1", "true"])
def test_a_missing_corpus_fails_under_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ci: str) -> None:
    monkeypatch.setenv("RESPONSEMASTER_CORPUS", str(tmp_path / "no-corpus-here"))
    monkeypatch.setenv("CI", ci)
    with pytest.raises(BaseException) as outcome:  # a skip must not escape as this test's own skip
        _require_corpus()
    assert outcome.type is pytest.fail.Exception, outcome.type
    assert "the labelled corpus is missing" in str(outcome.value) and "CI is set" in str(outcome.value)


def test_a_missing_corpus_skips_elsewhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RESPONSEMASTER_CORPUS", str(tmp_path / "no-corpus-here"))
    monkeypatch.setenv("CI", "false")
    with pytest.raises(BaseException) as outcome:
        _require_corpus()
    assert outcome.type is pytest.skip.Exception and "the labelled corpus is missing" in str(outcome.value)


def test_a_present_corpus_is_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "bounces").mkdir()
    (tmp_path / "bounces" / "labels.jsonl").write_text("")
    monkeypatch.setenv("RESPONSEMASTER_CORPUS", str(tmp_path))
    monkeypatch.setenv("CI", "1")
    assert _require_corpus() == tmp_path
