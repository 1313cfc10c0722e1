"""responsemaster.parse.linear: RE2 patterns whose ASCII fast paths answer what the google-re2 wrapper answers.

The fast paths (searching the ASCII bytes directly, replacing without a match
object per match) exist only for speed; the wrapper's own pattern, compiled
from the same text with the same options, is the reference.
"""

from __future__ import annotations

import re

import re2
from hypothesis import given, settings
from hypothesis import strategies as st

from responsemaster.parse import linear

PATTERNS = [
    linear.compile(r"<[^>]*>"),
    linear.compile(r"<\s*(br|/p|p)\b[^>]*>", re.I),
    linear.compile(r"<script\b[^>]*>.*?</script\s*>", re.I | re.S),
    linear.compile(r"x*"),  # empty matches everywhere
    linear.compile(r"\b"),
    linear.compile(r"a|"),
    linear.compile(r"^\s*$", re.M),
]
#: ASCII markup and text, with now and then a character that is not ASCII (the slow path).
TEXT = st.text(alphabet=st.sampled_from(list("<>/ abxp\n\tscript=\"'") + ["é", "\u2028"]), max_size=60)
REPLACEMENTS = st.sampled_from(["", " ", "\n", "<>", "[x]"])


def wrapper(pattern: linear.Pattern) -> re2._Regexp:
    plain = re2.compile(pattern.pattern, pattern.options)
    assert not isinstance(plain, linear.Pattern)
    return plain


@settings(max_examples=400, deadline=None)
@given(pattern=st.sampled_from(PATTERNS), text=TEXT, repl=REPLACEMENTS, count=st.sampled_from([0, 1, 2, 5]))
def test_sub_replaces_what_the_wrapper_replaces(pattern: linear.Pattern, text: str, repl: str, count: int) -> None:
    assert pattern.subn(repl, text, count) == wrapper(pattern).subn(repl, text, count)
    assert pattern.sub(repl, text) == wrapper(pattern).sub(repl, text)


@settings(max_examples=200, deadline=None)
@given(pattern=st.sampled_from(PATTERNS), text=TEXT)
def test_finditer_finds_what_the_wrapper_finds(pattern: linear.Pattern, text: str) -> None:
    ours = [(m.span(), m.group()) for m in pattern.finditer(text)]
    theirs = [(m.span(), m.group()) for m in wrapper(pattern).finditer(text)]
    assert ours == theirs


def test_a_replacement_with_group_references_still_expands_them() -> None:
    pattern = linear.compile(r"<(b)>")
    assert pattern.sub(r"[\1]", "a<b>c<b>") == "a[b]c[b]"
