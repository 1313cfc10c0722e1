"""The recipient model's text: quick checks and plain splits that must give what the patterns give.

``recipient_features._fold`` runs each placeholder pattern (URL, address, IP,
host) only where the text holds what any match of that pattern must hold. The
reference here is the four substitutions run on every text, unconditionally:
any check that is not a true necessary condition (a case it forgets, a
character class it narrows) makes some text come out differently.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from responsemaster.classify.model import recipient_features as rf


def _every_pattern(text: str) -> str:
    text = rf._URL.sub(" _url_ ", text)
    text = rf._EMAIL.sub(" _email_ ", text)
    text = rf._IP.sub(" _ip_ ", text)
    return rf._HOST.sub(" _host_ ", text)


#: What the four patterns and their checks turn on, with the letters IGNORECASE folds onto ASCII ones.
_ALPHABET = st.sampled_from(list("wWhHtTpPsS:/.@[]-_ aAfFbB0123456789xyzXYZ\n\t") + ["\u017f", "\u212a", "\u0130", "\u0131"])
_PIECES = st.sampled_from(["www.", "WwW.", "http://", "HTTPS://", "hTTp\u017f://", "user@", "@host", "1.2.3.4", "10.0.0.1",
                           "5.1.1", "::1", "fe80::1:2", "a:b:c:d", "mx.example.com", "a.b.co", "MX1.EXAMPLE.ORG"])


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.one_of(_ALPHABET, _PIECES), max_size=40).map("".join))
def test_folding_with_checks_equals_every_pattern_on_made_up_text(text: str) -> None:
    assert rf._fold(text) == _every_pattern(text)


def test_folding_with_checks_equals_every_pattern_on_the_corpus(corpus_files: list[Path]) -> None:
    """Every 600-character window of every corpus message (the length normalise reads)."""
    windows = 0
    for path in corpus_files:
        text = path.read_bytes().decode("utf-8", "replace")
        for start in range(0, min(len(text), 60_000), rf.TEXT_CHARS):
            window = text[start:start + rf.TEXT_CHARS]
            assert rf._fold(window) == _every_pattern(window), f"{path.name} at {start}"
            windows += 1
    assert windows > 1000


_SPACES = [chr(c) for c in range(0x3000 + 1) if chr(c).isspace()]


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_SPACES), st.sampled_from(["smtp;", "X-Postfix;", "550", "5.1.1", "a", "é",
                                                                      "\u200b", ";"])), max_size=30).map("".join))
def test_white_space_is_split_where_the_pattern_splits_it(text: str) -> None:
    """``clean_diagnostic`` and the scorer's words split with ``str.split``: at exactly what ``\\s+`` matches."""
    import re

    from responsemaster.classify.smtp_text import _DIAG_PREFIX, clean_diagnostic

    assert clean_diagnostic(text) == re.sub(r"\s+", " ", _DIAG_PREFIX.sub("", text)).strip()[:2000]
    assert text.split() == re.sub(r"\s\s+", " ", text).split()  # what the char n-gram scorer split before
    assert text.split() == re.findall(r"\S+", text)  # what the word n-gram scorer found before


def test_the_patterns_white_space_is_str_isspace_at_every_code_point() -> None:
    r"""Why ``str.split`` may stand for ``\s+`` and ``\S+`` (the scorer's analyzers, ``clean_diagnostic``)."""
    import re
    import sys

    space = re.compile(r"\s")
    assert [c for c in range(sys.maxunicode + 1) if chr(c).isspace() != bool(space.match(chr(c)))] == []
