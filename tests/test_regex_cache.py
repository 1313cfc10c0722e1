"""Big patterns' compiled code kept on disk (responsemaster.regex_cache): the same patterns, whatever the file holds."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from responsemaster import regex_cache
from responsemaster.classify.model.tokenizer import load_tokenizer

REPO = Path(__file__).resolve().parent.parent
#: Long enough to be cached, with named groups, flags and classes the engine's code must carry.
PATTERN = "(?P<word>" + "|".join(f"w{n:04d}[a-z]?" for n in range(150)) + r")\s+(?P<rest>\d+)|(?i:ümlaut)"
TEXTS = ["w0042x 17", "W0042 17", "w0149 9", "ÜMLAUT", "w0150 1", "nothing", "w0007  123 w0008 4"]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(regex_cache.ENV, str(tmp_path / "cache"))
    folder = regex_cache.cache_folder()
    assert folder is not None
    return folder


def _same(pattern: re.Pattern[str], expected: re.Pattern[str]) -> None:
    assert pattern == expected  # pattern, flags and the engine's code
    assert pattern.groupindex == expected.groupindex
    for text in TEXTS:
        assert [m.groupdict() for m in pattern.finditer(text)] == [m.groupdict() for m in expected.finditer(text)]
        assert [m.span() for m in pattern.finditer(text)] == [m.span() for m in expected.finditer(text)]


def _compiler_forbidden(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("compiled although the cache holds the pattern")

    monkeypatch.setattr(re._compiler, "compile", refuse)
    monkeypatch.setattr(regex_cache._parser, "parse", refuse)
    re.purge()


def test_a_pattern_is_written_once_then_read_back_the_same(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = re.compile(PATTERN, re.M)
    _same(regex_cache.compile_cached(PATTERN, re.M), expected)
    assert len(list(cache.glob("*.json"))) == 1
    _compiler_forbidden(monkeypatch)
    _same(regex_cache.compile_cached(PATTERN, re.M), expected)


def test_the_flags_are_part_of_the_key(cache: Path) -> None:
    regex_cache.compile_cached(PATTERN)
    _same(regex_cache.compile_cached(PATTERN, re.I), re.compile(PATTERN, re.I))
    assert len(list(cache.glob("*.json"))) == 2


@pytest.mark.parametrize("damage", [
    "not json",
    json.dumps({"pattern": PATTERN, "flags": 32, "code": [99999, 1, 2], "groups": 0, "names": {},
                "by_index": [None]}),  # the engine refuses the code
    json.dumps({"pattern": PATTERN, "flags": 32}),
])
def test_a_damaged_file_is_compiled_again_and_rewritten(cache: Path, damage: str) -> None:
    regex_cache.compile_cached(PATTERN)
    (path,) = cache.glob("*.json")
    path.write_text(damage, "utf-8")
    _same(regex_cache.compile_cached(PATTERN), re.compile(PATTERN))
    assert path.read_text("utf-8") != damage


def test_code_for_another_pattern_is_never_taken(cache: Path) -> None:
    """A file holding a valid program for other words (here: another pattern's) still gives this pattern."""
    other = PATTERN.replace("w", "v")
    regex_cache.compile_cached(other)
    regex_cache.compile_cached(PATTERN)
    files = {path.read_text("utf-8"): path for path in cache.glob("*.json")}
    assert len(files) == 2
    for path in cache.glob("*.json"):  # swap every file for the other pattern's code
        path.write_text(next(text for text in files if files[text] != path), "utf-8")
    got = regex_cache.compile_cached(PATTERN)
    assert got.pattern == PATTERN
    assert bool(got.search("w0001 5")) and not got.search("v0001 5")


def test_off_or_an_unwritable_folder_compiles_as_usual(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(regex_cache.ENV, "off")
    assert regex_cache.cache_folder() is None
    _same(regex_cache.compile_cached(PATTERN), re.compile(PATTERN))
    blocker = tmp_path / "a-file"
    blocker.write_text("", "utf-8")
    monkeypatch.setenv(regex_cache.ENV, str(blocker / "cache"))  # its parent is a file: nothing can be written
    _same(regex_cache.compile_cached(PATTERN), re.compile(PATTERN))


def test_a_short_pattern_is_not_written(cache: Path) -> None:
    assert regex_cache.compile_cached(r"\d+") is re.compile(r"\d+")
    assert not cache.exists() or not list(cache.glob("*.json"))


def test_the_model_tokenizers_patterns_come_from_the_cache_the_second_time(
        cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the cache is for: the shipped tokenizer's spaCy patterns, compiled once."""
    folder = REPO / "models" / (REPO / "models" / "CURRENT").read_text("utf-8").strip()
    first = load_tokenizer(folder, "en")
    assert first is not None and len(list(cache.glob("*.json"))) >= 3
    text = "Hello, (world)! Mail me at jane.doe@example.org or see https://example.org/a?b=c; it's 5.1.1-ish."
    _compiler_forbidden(monkeypatch)
    second = load_tokenizer(folder, "en")
    assert second is not None and second(text) == first(text)


def test_without_a_home_directory_patterns_compile_as_usual(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(regex_cache.ENV, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    assert regex_cache.cache_folder() is None
    _same(regex_cache.compile_cached(PATTERN), re.compile(PATTERN))
