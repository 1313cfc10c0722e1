"""spaCy's rule-based tokenizer without spaCy: the same tokens from data exported at training time.

Why: a blank spaCy tokenizer is all the features need, yet importing spaCy
costs about half a second of CPU and ~77 MB in every process that meets one
message the model must read. What that tokenizer does is plain data (five
regular expressions and a table of special cases) plus a fixed procedure.
:func:`export_tokenizer` writes the data of a live spaCy tokenizer as JSON
into the model folder (``tokenizer-<lang>.json``, at training time, spaCy
importable); :class:`PureTokenizer` reads it and splits text the way
spaCy 3.8's ``Tokenizer.__call__`` does:

1. The text is cut into runs of whitespace and of other characters. A run of
   whitespace after a word loses its first character when that is a plain
   space (spaCy records it as the word's trailing space); what is left of
   it, if anything, is a token of its own (as is whitespace opening the text).
2. Each run is a special case (the table maps it to its pieces) or is peeled:
   prefixes and suffixes come off one at a time until the rest is a special
   case, matches ``token_match``, or has neither affix; the rest is then a
   special case, one token (``token_match``/``url_match``), or is split at
   the infix pattern's matches.
3. A last pass looks, in the token sequence, for special cases that contain
   affixes or a space (the only ones step 2 can miss, since it only looks up
   whole runs and peeled rests): the sequences their text splits into
   without special cases. The longest matches win (earlier first among equal
   lengths; a match is dropped when its first or last token was covered by a
   match looked at before it, kept or not), and each kept match whose text is
   a special case is replaced by that case's pieces. (The sequences are
   computed by the export and stored with the data: ``special_patterns``.)

A token is returned as (character offset, lower-cased text): spaCy's IDX and
LOWER (a lexeme's LOWER is ``str.lower()`` of its text; a special case's NORM
does not change it). The equality with spaCy is checked over the training
mail, the corpus and fuzzed text by ``benchmarks/tokenizer_equality.py`` and
``tests/test_tokenizer_export.py``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from responsemaster.regex_cache import compile_cached

#: Version of the exported file's layout; a file of another version is not read (spaCy is used instead).
FORMAT = 1
#: The languages whose tokenizers a model folder ships: features.OWN_TOKENIZER and the multi-language "xx".
EXPORTED_LANGUAGES: tuple[str, ...] = ("da", "de", "en", "es", "it", "nl", "pt", "sv", "xx")
#: Runs (chunks) whose split is remembered per tokenizer, like spaCy's own cache (``max_cache_size``).
CACHE_SIZE = 10_000

_RUNS = re.compile(r"\s+|\S+")  # \s of a str pattern is str.isspace(): checked over every code point in the tests
_PATTERNS = ("prefix", "suffix", "infix", "token_match", "url_match")
_END = ""  # the key marking "a pattern ends here" in the trie of the last pass (no token is empty)


def tokenizer_file(folder: Path, lang: str) -> Path:
    """Where a model folder keeps the exported tokenizer of spaCy language ``lang``."""
    return Path(folder) / f"tokenizer-{lang}.json"


class PureTokenizer:
    """Splits text as the spaCy tokenizer it was exported from does; see the module's docstring."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        if data.get("format") != FORMAT:
            raise ValueError(f"tokenizer data of format {data.get('format')!r}, not {FORMAT}")
        self.lang: str = data["lang"]
        compiled = {name: _compile(data.get(name)) for name in _PATTERNS}
        self._prefix = compiled["prefix"].search if compiled["prefix"] else None
        self._suffix = compiled["suffix"].search if compiled["suffix"] else None
        self._infix = compiled["infix"].finditer if compiled["infix"] else None
        self._token_match = compiled["token_match"].match if compiled["token_match"] else None
        self._url_match = compiled["url_match"].match if compiled["url_match"] else None
        self.faster_heuristics = bool(data.get("faster_heuristics", True))
        self.rules: dict[str, tuple[str, ...]] = {text: tuple(pieces) for text, pieces in data["rules"].items()}
        for text, pieces in self.rules.items():
            if "".join(pieces) != text or not all(pieces):
                raise ValueError(f"special case {text!r}: pieces {pieces!r} do not spell it")
        stored = data.get("special_patterns")  # written by export_tokenizer: saves computing them (0.06 s for "nl")
        self._trie = _trie(self.special_patterns() if stored is None else map(tuple, stored))
        self._cache: dict[str, tuple[str, ...]] = {}
        self.cache_size = CACHE_SIZE

    @property
    def cached(self) -> int:
        """How many runs' splits are remembered (what the tokenizer keeps for good)."""
        return len(self._cache)

    def __call__(self, text: str, remember: bool = True) -> list[tuple[int, str]]:
        """(offset, lower-cased text) of every token, whitespace tokens included, as spaCy's IDX and LOWER."""
        return [(at, piece.lower()) for at, piece in self.pieces(text, remember)]

    def pieces(self, text: str, remember: bool = True) -> list[tuple[int, str]]:
        """(offset, text) of every token. ``remember=False`` adds nothing to the cache of runs."""
        out: list[tuple[int, str]] = []
        for start, run in self._chunks(text):
            split = self.rules.get(run) or self._cache.get(run)
            if split is None:
                split = tuple(self._split(run, True))
                if remember and len(self._cache) < self.cache_size:
                    self._cache[run] = split
            at = start
            for piece in split:
                out.append((at, piece))
                at += len(piece)
        if self._trie and out:
            out = self._respecial(text, out)
        return out

    def special_patterns(self) -> list[tuple[str, ...]]:
        """The token sequences the last pass looks for.

        The special cases with an affix, an infix or a space, each split
        without special cases; with ``faster_heuristics`` off, every special
        case (as spaCy then does).
        """
        patterns = []
        for text in sorted(self.rules):
            if (not self.faster_heuristics or self._prefix_length(text) or self._suffix_length(text)
                    or (self._infix is not None and any(True for _ in self._infix(text))) or " " in text):
                pattern = tuple(piece for _, run in self._chunks(text) for piece in self._split(run, False))
                if pattern:
                    patterns.append(pattern)
        return patterns

    # -- internals -------------------------------------------------------------------------------

    @staticmethod
    def _chunks(text: str) -> Iterable[tuple[int, str]]:
        """The runs spaCy tokenises one by one, with their offsets (see step 1 of the module's docstring)."""
        for match in _RUNS.finditer(text):
            start = match.start()
            run = match.group()
            if start and run[0] == " ":
                if len(run) == 1:
                    continue
                start, run = start + 1, run[1:]
            yield start, run

    def _prefix_length(self, text: str) -> int:
        if self._prefix is None:
            return 0
        match = self._prefix(text)
        return match.end() - match.start() if match is not None else 0

    def _suffix_length(self, text: str) -> int:
        if self._suffix is None:
            return 0
        match = self._suffix(text)
        return match.end() - match.start() if match is not None else 0

    def _split(self, run: str, specials: bool) -> list[str]:
        """One run's pieces (step 2); ``specials=False`` ignores the special cases (the last pass's patterns)."""
        rules: Mapping[str, tuple[str, ...]] = self.rules if specials else {}
        if run in rules:
            return list(rules[run])
        prefixes: list[str] = []
        suffixes: list[str] = []
        rest = run
        size = 0
        while rest and len(rest) != size:
            if self._token_match is not None and self._token_match(rest):
                break
            if rest in rules:
                break
            size = len(rest)
            head = self._prefix_length(rest)
            if head:
                without_head = rest[head:]
                if without_head and without_head in rules:
                    prefixes.append(rest[:head])
                    rest = without_head
                    break
            tail = self._suffix_length(rest[head:])
            if tail:
                without_tail = rest[:-tail]
                if without_tail and without_tail in rules:
                    suffixes.append(rest[-tail:])
                    rest = without_tail
                    break
            if head and tail and head + tail <= len(rest):
                prefixes.append(rest[:head])
                suffixes.append(rest[-tail:])
                rest = rest[head:-tail]
            elif head:
                prefixes.append(rest[:head])
                rest = rest[head:]
            elif tail:
                suffixes.append(rest[-tail:])
                rest = rest[:-tail]
        out = prefixes
        if rest:
            if rest in rules:
                out.extend(rules[rest])
            elif ((self._token_match is not None and self._token_match(rest))
                  or (self._url_match is not None and self._url_match(rest))):
                out.append(rest)
            else:
                out.extend(self._infixes(rest))
        out.extend(reversed(suffixes))
        return out

    def _infixes(self, rest: str) -> list[str]:
        """``rest`` cut at the infix matches; a match at the very start splits nothing, an empty one no infix token."""
        if self._infix is None:
            return [rest]
        out: list[str] = []
        done = 0
        for match in self._infix(rest):
            begin, end = match.span()
            if begin == 0:
                continue
            if begin != done:
                out.append(rest[done:begin])
            if begin != end:
                out.append(rest[begin:end])
            done = end
        if done < len(rest):
            out.append(rest[done:])
        return out

    def _respecial(self, text: str, tokens: list[tuple[int, str]]) -> list[tuple[int, str]]:
        """Step 3: special cases found across tokens replace them."""
        count = len(tokens)
        found: list[tuple[int, int]] = []
        trie = self._trie
        for first in range(count):
            node = trie.get(tokens[first][1])
            end = first + 1
            while node is not None:
                if _END in node:
                    found.append((first, end))
                if end >= count:
                    break
                node = node.get(tokens[end][1])
                end += 1
        if not found:
            return tokens
        found.sort(key=lambda span: (span[0] - span[1], span[0]))
        covered: set[int] = set()
        kept: dict[int, int] = {}
        for first, end in found:
            if first not in covered and end - 1 not in covered:
                kept[first] = end
            covered.update(range(first, end))
        out: list[tuple[int, str]] = []
        i = 0
        while i < count:
            end = kept.get(i)
            if end is None:
                out.append(tokens[i])
                i += 1
                continue
            begin = tokens[i][0]
            last_at, last = tokens[end - 1]
            pieces = self.rules.get(text[begin:last_at + len(last)])
            if pieces is None:
                out.extend(tokens[i:end])
            else:
                at = begin
                for piece in pieces:
                    out.append((at, piece))
                    at += len(piece)
            i = end
        return out


def _compile(spec: Mapping[str, Any] | None) -> re.Pattern[str] | None:
    """A tokenizer pattern: big ones (spaCy's affixes) take 60 ms to compile, so their code is cached on disk."""
    if spec is None:
        return None
    return compile_cached(spec["pattern"], spec.get("flags", 0))


def _trie(patterns: Iterable[tuple[str, ...]]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for pattern in patterns:
        node = root
        for piece in pattern:
            node = node.setdefault(piece, {})
        node[_END] = True
    return root


def load_tokenizer(folder: Path, lang: str) -> PureTokenizer | None:
    """The tokenizer exported into model folder ``folder`` for spaCy language ``lang``; None when there is none."""
    path = tokenizer_file(folder, lang)
    if not path.is_file():
        return None
    data = json.loads(path.read_text("utf-8"))
    if data.get("format") != FORMAT or data.get("lang") != lang:
        return None
    return PureTokenizer(data)


# -- export (training time: spaCy importable) -----------------------------------------------------


def export_tokenizer(tokenizer: Any, lang: str) -> dict[str, Any]:
    """A live spaCy tokenizer's data, as JSON-ready plain values (see :class:`PureTokenizer`).

    Refuses what :class:`PureTokenizer` could not reproduce: a pattern that is
    not a compiled ``re`` pattern's method, a special case setting more than
    ORTH and NORM.
    """
    import spacy
    from spacy.symbols import ORTH

    data: dict[str, Any] = {"format": FORMAT, "lang": lang, "spacy": spacy.__version__}
    for name, attribute in zip(_PATTERNS, ("prefix_search", "suffix_search", "infix_finditer", "token_match",
                                           "url_match")):
        data[name] = _pattern_of(getattr(tokenizer, attribute), attribute)
    data["faster_heuristics"] = bool(tokenizer.faster_heuristics)
    rules: dict[str, list[str]] = {}
    for text, pieces in sorted(tokenizer.rules.items()):
        orths = []
        for piece in pieces:
            orth = piece.get(ORTH, piece.get("ORTH"))
            if not isinstance(orth, str) or set(piece) - {ORTH, "ORTH", spacy.symbols.NORM, "NORM"}:
                raise ValueError(f"{lang}: special case {text!r} has a piece PureTokenizer cannot copy: {piece!r}")
            orths.append(orth)
        rules[text] = orths
    data["rules"] = rules
    data["special_patterns"] = [list(pattern) for pattern in PureTokenizer(data).special_patterns()]
    return data


def _pattern_of(method: Callable[..., Any] | None, attribute: str) -> dict[str, Any] | None:
    if method is None:
        return None
    compiled = getattr(method, "__self__", None)
    if not isinstance(compiled, re.Pattern) or not isinstance(compiled.pattern, str):
        raise ValueError(f"tokenizer.{attribute} is not a method of a compiled re pattern: {method!r}")
    expected = {"prefix_search": "search", "suffix_search": "search", "infix_finditer": "finditer",
                "token_match": "match", "url_match": "match"}[attribute]
    if method.__name__ != expected:
        raise ValueError(f"tokenizer.{attribute} is {method.__name__}, not {expected}")
    return {"pattern": compiled.pattern, "flags": int(compiled.flags)}


def export_tokenizers(folder: Path, languages: Iterable[str] = EXPORTED_LANGUAGES) -> list[Path]:
    """Write ``tokenizer-<lang>.json`` into model folder ``folder`` for each language's blank spaCy tokenizer."""
    import spacy

    written = []
    for lang in languages:
        data = export_tokenizer(spacy.blank(lang).tokenizer, lang)
        path = tokenizer_file(folder, lang)
        path.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n", "utf-8")
        written.append(path)
    return written
