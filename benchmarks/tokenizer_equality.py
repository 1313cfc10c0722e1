"""Does the pure-Python tokenizer give spaCy's tokens? Every language, every text the model reads, fuzz.

    PYTHONPATH=. python benchmarks/tokenizer_equality.py [--model-dir models/<id>] [--fuzz 3000]
                                                         [--data training_data --data /work/shared/corpus]
                                                         [--show 5]

For each tokenizer a model ships (features.OWN_TOKENIZER and the
multi-language "xx"), the exported data (``tokenizer-<lang>.json`` of the
model folder; models/CURRENT by default; exported from live spaCy when the
folder has none) is read by ``PureTokenizer`` and compared with spaCy's
``spacy.blank(lang).tokenizer`` token by token: the (IDX, LOWER) of every
token, whitespace tokens included, in order. Four sets of texts:

- ``own``: every text the features tokenise (subject, reply, diagnostic,
  body; through ``message_columns``, the training and prediction path) of
  every ``*.eml`` under the data folders, each with the tokenizer of the
  language guessed for its message;
- ``all``: the same texts through every language's tokenizer;
- ``rules``: every special case of the language alone and inside affixes,
  quotes, brackets and sentences (the cases the last pass of the tokenizer
  re-joins);
- ``fuzz``: random strings of letters (accented too), digits, punctuation,
  every kind of whitespace, @, /, URLs, addresses, emoji and pieces of the
  special cases (seeded: the same strings each run).

Prints one table (texts, tokens, mismatching texts per language and set) and
the first mismatches; exits 1 when there is any. Also checks that the
shipped files hold what a fresh export of the installed spaCy would write.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from responsemaster.classify.model import features  # noqa: E402
from responsemaster.classify.model.tokenizer import (  # noqa: E402
    EXPORTED_LANGUAGES,
    PureTokenizer,
    export_tokenizer,
    load_tokenizer,
)

WHITESPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2007\u200a\u2028\u2029\u202f\u205f\u3000"
NOT_WHITESPACE = "\u200b\u200d\ufeff"
LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZàáâäãåæçèéêëìíîïñòóôöøœßùúûüýÿÀÉÖÜÑÇİıĳŁłžščřΩπДжЖ中文日本한"
PUNCT = ".,;:!?'\"`´’‘“”«»„‹›()[]{}<>-–—_/\\|@#$%^&*+=~…·•§°€£¥©®™"
WORDS = ("http://", "https://www.", "www.", ".com", ".de/", "mailto:", "user@example.org", "n't", "'s", "'ll",
         "l'", "d'", "dell'", "z.B.", "e.g.", "i.e.", "U.S.", "Nr.", "ca.", "5.1.1", "550", "4.2.2", "#5.7.1",
         "1,000.50", "12.3%", "€5", "$10", "3:45pm", "10-12", "2026-12-04", ":)", ":-(", "<3", "^_^", "😀", "👍🏽",
         "🇩🇪", "e-mail", "out-of-office", "re:", "aw:", "--", "...", "?!", "&amp;", "<br>", "a/b", "c++")


def spacy_tokens(tokenizer: object, text: str) -> list[tuple[int, str]]:
    """spaCy's (IDX, LOWER) per token, read as features._read reads them."""
    from spacy.attrs import IDX, LOWER

    doc = tokenizer(text)  # type: ignore[operator]
    strings = doc.vocab.strings
    return [(offset, strings[lower]) for lower, offset in doc.to_array([LOWER, IDX]).tolist()]


def feature_texts(folders: Sequence[Path]) -> tuple[list[tuple[str, str]], int]:
    """(language, text) of every text message_columns tokenises, over every .eml under the folders."""
    from responsemaster.classify.fields import message_fields
    from responsemaster.parse.message import parse_message

    seen: list[tuple[str, str]] = []

    class Recording(features.Normaliser):
        def tokens_at(self, text: str, lang: str) -> list[tuple[int, str]]:
            if text:
                seen.append((lang, text))
            return []

    norm = Recording()
    files = sorted(p for folder in folders for p in Path(folder).rglob("*.eml"))
    for path in files:
        msg = parse_message(path.read_bytes())
        features.message_columns(msg, message_fields(msg), norm)
    return seen, len(files)


def rule_texts(pure: PureTokenizer) -> list[str]:
    out = []
    for rule in pure.rules:
        out += [rule, f"({rule})", f"{rule}.", f'"{rule}"', f"'{rule}'", f"x {rule} y", f"[{rule}],", f"-{rule}-",
                f"{rule}{rule}", f"«{rule}»!", f"a{rule}", f"{rule}s", f"{rule}'s", f"\n{rule}\t"]
    return out


def fuzz_texts(pure: PureTokenizer, count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    rules = sorted(pure.rules)
    pools = [LETTERS * 3, "0123456789" * 2, PUNCT, WHITESPACE + "  ", NOT_WHITESPACE]
    out = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(1, 30)):
            kind = rng.random()
            if kind < 0.45:
                pool = rng.choice(pools)
                parts.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 8))))
            elif kind < 0.6:
                parts.append(rng.choice(WORDS))
            elif kind < 0.75:
                parts.append(rng.choice(rules))
            else:
                parts.append(rng.choice(["", " ", " ", "  ", "\n", "\t", " \n "]))
        out.append("".join(parts))
    return out


def compare(pure: PureTokenizer, tokenizer: object, texts: Iterable[str]) -> tuple[int, int, list[str]]:
    n = tokens = 0
    bad = []
    for text in texts:
        want = spacy_tokens(tokenizer, text)
        got = pure(text)
        n += 1
        tokens += len(want)
        if got != want:
            bad.append(text)
    return n, tokens, bad


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", type=Path, default=None, help="model folder (default: models/CURRENT)")
    parser.add_argument("--data", type=Path, action="append", default=None,
                        help="folders of .eml files (default: training_data and /work/shared/corpus)")
    parser.add_argument("--fuzz", type=int, default=3000, help="random strings per language")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--show", type=int, default=5, help="mismatches to print per language and set")
    parser.add_argument("--languages", default=",".join(EXPORTED_LANGUAGES))
    args = parser.parse_args()

    import spacy

    from responsemaster.classify.model.store import current_model_dir

    model_dir = args.model_dir or current_model_dir(REPO / "models")
    folders = args.data or [REPO / "training_data", Path("/work/shared/corpus")]
    started = time.perf_counter()
    recorded, n_files = feature_texts([f for f in folders if f.exists()])
    own_by_lang: dict[str, set[str]] = {}
    for lang, text in recorded:
        own_by_lang.setdefault(lang if lang in features.OWN_TOKENIZER else "xx", set()).add(text)
    every = sorted({text for _, text in recorded})
    print(f"{n_files} messages, {len(recorded)} texts tokenised by the features ({len(every)} distinct), "
          f"model folder {model_dir}, spaCy {spacy.__version__}")
    rows = []
    total_bad = 0
    for lang in args.languages.split(","):
        live = spacy.blank(lang).tokenizer
        fresh = export_tokenizer(live, lang)
        pure = load_tokenizer(model_dir, lang) if model_dir is not None else None
        source = "shipped"
        if pure is None:
            pure, source = PureTokenizer(fresh), "exported now"
        else:
            import json

            from responsemaster.classify.model.tokenizer import tokenizer_file

            shipped = json.loads(tokenizer_file(model_dir, lang).read_text("utf-8"))
            if shipped != fresh:
                source = "shipped (DIFFERS from a fresh export)"
                total_bad += 1
        sets = {
            "own": sorted(own_by_lang.get(lang, ())),
            "all": every,
            "rules": rule_texts(pure),
            "fuzz": fuzz_texts(pure, args.fuzz, args.seed),
        }
        for name, texts in sets.items():
            n, tokens, bad = compare(pure, live, texts)
            rows.append((lang, name, n, tokens, len(bad)))
            total_bad += len(bad)
            for text in bad[: args.show]:
                print(f"MISMATCH {lang}/{name}: {text!r}\n  spacy {spacy_tokens(live, text)}\n  pure  {pure(text)}")
        print(f"{lang}: {source}", flush=True)
    print()
    print(f"| {'lang':4} | {'set':5} | {'texts':>7} | {'tokens':>9} | {'mismatches':>10} |")
    print(f"|{'-' * 6}|{'-' * 7}|{'-' * 9}|{'-' * 11}|{'-' * 12}|")
    for lang, name, n, tokens, bad in rows:
        print(f"| {lang:4} | {name:5} | {n:7d} | {tokens:9d} | {bad:10d} |")
    texts = sum(r[2] for r in rows)
    tokens = sum(r[3] for r in rows)
    print(f"| {'all':4} | {'':5} | {texts:7d} | {tokens:9d} | {sum(r[4] for r in rows):10d} |")
    print(f"\n{time.perf_counter() - started:.0f} s; {'ZERO mismatches' if not total_bad else f'{total_bad} PROBLEMS'}")
    return 1 if total_bad else 0


if __name__ == "__main__":
    sys.exit(main())
