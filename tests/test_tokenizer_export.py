"""The pure-Python tokenizer gives spaCy's tokens, and a model folder holding its data spares the spaCy import.

The full comparison (every text of training_data/ and the corpus, every
language, fuzz) is benchmarks/tokenizer_equality.py; this is its quick
sample plus the hard cases by hand, for every tokenizer a model ships.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from responsemaster.classify.model import features
from responsemaster.classify.model.store import current_model_dir
from responsemaster.classify.model.tokenizer import (
    EXPORTED_LANGUAGES,
    PureTokenizer,
    export_tokenizer,
    export_tokenizers,
    load_tokenizer,
    tokenizer_file,
)

REPO = Path(__file__).resolve().parent.parent
SHIPPED = current_model_dir(REPO / "models")

HARD = [
    "", " ", "  ", "\n", " \n ", "a", " a", "a ", "a  b", "a \n b", "a\n\nb", "a\t\tb", "\t lead and trail \n",
    "a\xa0b", "a \xa0 b", "a\u2028b\u3000c", "a\x1cb\x85c", "zero\u200bwidth", "\ufeffbom",
    "http://example.com/path?q=1&r=2#frag", "(see https://www.example.org/a_b-c.html).", "www.example.de/x,",
    "<https://x.example/y>", "mailto:jane@example.org", "jane.doe+tag@sub.example.co.uk", "<jane@example.org>;",
    "jane@example", "user@[192.0.2.1]", "ftp://a.b/c", "example.com", "e-mail: a@b.c.",
    "l'adresse", "L'adresse de l'utilisateur n'existe pas", "dell'indirizzo", "all'ufficio", "d'accord", "qu'il",
    "don't", "Don't!", "I'm", "can't", "won't", "y'all", "'tis", "rock 'n' roll", "o'clock", "'s morgens",
    "it's", "'quoted'", "‘curly’", "’s", "’’", "‘‘", "``x''", "don’t", "(don't)", "\"don't\"",
    "out-of-office", "e-mail", "Max-Planck-Straße", "well-known--really", "a-b-c-", "-x-", "—dash—", "a–b",
    "5.1.1", "550 5.1.1", "4.2.2:", "#5.7.1", "550-5.7.1", "1,000.50", "12.3%", "€5", "5€", "$10.99", "10:30",
    "3:45pm", "2026-12-04", "04.12.2026", "+49 (0) 30 123-456", "1st", "2nd.", "3.", "100km/h", "1/2", "½",
    "😀", "👍🏽", "🇩🇪🇫🇷", "a😀b", ":)", ":-)", ";-)", "<3", "</3", "^_^", "(:", ":(", "=)", "xD", ":P", "o_O",
    "...", "…", "?!", "!!!", "Hello, world!", "(hello)", "[x]", "{y}", "«bonjour»", "„Hallo“", "“x”", "‹a›",
    "((a))", "[(a)]", ".a.", ",a,", "'a'", "\"a\"", "*bold*", "_under_", "#hash", "@handle", "a/b", "a\\b",
    "a|b", "c++", "C#", "&amp;", "<br>", "<p>x</p>", "z.B.", "e.g.", "i.e.", "U.S.A.", "Nr. 5", "usw.",
    "etc.)", "ca.", "bzw.", "St.", "Dr.", "Mr.", "EE. UU.", "ik ben 't", "z'n", "m'n", "bl.", "t.o.v.",
    "Mvh.", "osv.", "bl.a.", "f.eks.", "vs.", "Sr.", "Sra.", "pág.", "núm.", "Sig.", "dott.", "pág.)",
    "İstanbul", "ĲSSEL", "ß", "STRASSE", "ΣΊΣΥΦΟΣ", "ǅ", "ﬁne", "Ⅻ", "ⓐ", "𝐀𝐁",
]


@pytest.fixture(scope="module")
def tokenizers() -> dict[str, tuple[object, PureTokenizer]]:
    """spaCy's blank tokenizer and the pure copy of its export (through JSON, as a model folder keeps it), per language.

    The installed spaCy's own export, not the shipped files: those hold the rules of the spaCy the model
    was trained with, by design, and are compared with the installed one only when it is that version
    (:func:`test_the_shipped_files_are_what_the_installed_spacy_exports`).
    """
    spacy = pytest.importorskip("spacy")
    out = {}
    for lang in EXPORTED_LANGUAGES:
        tokenizer = spacy.blank(lang).tokenizer
        out[lang] = (tokenizer, PureTokenizer(json.loads(json.dumps(export_tokenizer(tokenizer, lang)))))
    return out


def _trained_with() -> str:
    """The spaCy version the shipped model was trained with (its meta.json)."""
    assert SHIPPED is not None, "models/CURRENT names no model"
    return str(json.loads((SHIPPED / "meta.json").read_text("utf-8"))["libraries"]["spacy"])


def spacy_tokens(tokenizer: object, text: str) -> list[tuple[int, str]]:
    from spacy.attrs import IDX, LOWER

    doc = tokenizer(text)  # type: ignore[operator]
    return [(offset, doc.vocab.strings[lower]) for lower, offset in doc.to_array([LOWER, IDX]).tolist()]


def mismatches(tokenizer: object, pure: PureTokenizer, texts: list[str]) -> list[tuple[str, object, object]]:
    out = []
    for text in texts:
        want, got = spacy_tokens(tokenizer, text), pure(text)
        if want != got:
            out.append((text, want, got))
    return out


def test_whitespace_runs_are_cut_where_spacy_cuts_them() -> None:
    """The pure tokenizer finds runs with the re ``\\s``; spaCy with ``str.isspace()``: the same characters."""
    space = re.compile(r"\s")
    assert all((space.match(chr(c)) is not None) == chr(c).isspace() for c in range(sys.maxunicode + 1))


@pytest.mark.parametrize("lang", EXPORTED_LANGUAGES)
def test_hard_cases_give_spacys_tokens(tokenizers: dict[str, tuple[object, PureTokenizer]], lang: str) -> None:
    tokenizer, pure = tokenizers[lang]
    texts = HARD + [" ".join(HARD), "\n".join(HARD), "".join(HARD[40:80])]
    texts += [f"{prefix}{text}{suffix}" for text in HARD for prefix, suffix in (("(", ")."), ("«", "»"), ("'", "'"))]
    assert mismatches(tokenizer, pure, texts) == []


@pytest.mark.parametrize("lang", EXPORTED_LANGUAGES)
def test_special_cases_in_context_give_spacys_tokens(tokenizers: dict[str, tuple[object, PureTokenizer]],
                                                      lang: str) -> None:
    tokenizer, pure = tokenizers[lang]
    rules = sorted(pure.rules)
    sample = rules if len(rules) <= 600 else random.Random(lang).sample(rules, 600)
    texts = [form.format(r) for r in sample for form in ("({}).", "x {} y", "'{}'", "{0}{0}", "-{}-")]
    assert mismatches(tokenizer, pure, texts) == []


@pytest.mark.parametrize("lang", EXPORTED_LANGUAGES)
def test_fuzz_gives_spacys_tokens(tokenizers: dict[str, tuple[object, PureTokenizer]], lang: str) -> None:
    tokenizer, pure = tokenizers[lang]
    rng = random.Random(f"fuzz-{lang}")
    rules = sorted(pure.rules)
    alphabet = ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZàéöüñçßİ0123456789 .,;:!?'\"’‘“”«»()[]{}<>-–—_"
                "/\\@#$%&*+=…€\t\n\xa0\u3000😀")
    bits = ["http://", "www.", ".com", "a@b.example", "n't", "'s", "5.1.1", "z.B.", ":)", "  ", "\n\n"]
    texts = []
    for _ in range(300):
        parts = []
        for _ in range(rng.randint(1, 20)):
            kind = rng.random()
            if kind < 0.6:
                parts.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6))))
            elif kind < 0.8:
                parts.append(rng.choice(bits))
            else:
                parts.append(rng.choice(rules))
        texts.append("".join(parts))
    assert mismatches(tokenizer, pure, texts) == []


def test_the_texts_of_real_mail_give_spacys_tokens(tokenizers: dict[str, tuple[object, PureTokenizer]]) -> None:
    """A sample of what the features tokenise (every tenth message of a few categories), every language."""
    from responsemaster.classify.fields import message_fields
    from responsemaster.parse.message import parse_message

    seen: list[str] = []

    class Recording(features.Normaliser):
        def tokens_at(self, text: str, lang: str) -> list[tuple[int, str]]:
            seen.append(text)
            return []

    norm = Recording()
    for category in ("user_reply", "auto_reply", "hard_bounce", "mail_block"):
        for path in sorted((REPO / "training_data" / category).glob("*.eml"))[::10][:15]:
            msg = parse_message(path.read_bytes())
            features.message_columns(msg, message_fields(msg), norm)
    texts = sorted({t for t in seen if t})
    assert len(texts) > 80
    for lang, (tokenizer, pure) in tokenizers.items():
        assert mismatches(tokenizer, pure, texts) == [], lang


def test_the_shipped_files_are_what_the_installed_spacy_exports(tmp_path: Path) -> None:
    """With the spaCy the model was trained with, a fresh export is the shipped files; another spaCy may
    split differently, and the model keeps splitting as it was trained (its files are its rules)."""
    spacy = pytest.importorskip("spacy")
    assert SHIPPED is not None
    if spacy.__version__ != _trained_with():
        pytest.skip(f"the model was trained with spaCy {_trained_with()}, {spacy.__version__} is installed")
    for lang in EXPORTED_LANGUAGES:
        shipped = json.loads(tokenizer_file(SHIPPED, lang).read_text("utf-8"))
        assert shipped == export_tokenizer(spacy.blank(lang).tokenizer, lang), lang
    written = export_tokenizers(tmp_path, ["en"])
    assert written == [tmp_path / "tokenizer-en.json"] and load_tokenizer(tmp_path, "en") is not None
    assert load_tokenizer(tmp_path, "de") is None  # no file: the Normaliser falls back to spaCy


def test_export_refuses_what_it_could_not_copy() -> None:
    spacy = pytest.importorskip("spacy")
    tokenizer = spacy.blank("en").tokenizer
    tokenizer.token_match = lambda text: None
    with pytest.raises(ValueError, match="token_match"):
        export_tokenizer(tokenizer, "en")


def test_a_normaliser_with_the_model_folder_reads_as_one_with_spacy(tmp_path: Path) -> None:
    pytest.importorskip("spacy")
    export_tokenizers(tmp_path)  # a model folder's files, from the installed spaCy (see the fixture's docstring)
    texts = {
        "en": "Thank you for your e-mail! I'm out of the office until 12/04; see https://example.com (to: a@x.org).",
        "de": "Ich bin bis zum 4.12. nicht im Büro, z.B. wegen Urlaub. Mit freundlichen Grüßen",
        "fr": "Je suis absent jusqu'au lundi; l'adresse n'existe pas.",
        "xx": "550 5.1.1 <jane@example.org>: Recipient address rejected: User unknown",
        "nl": "Ik ben 't hele weekend weg, z'n mail wordt niet gelezen.",
    }
    pure, spacy_read = features.Normaliser(tokenizer_dir=tmp_path), features.Normaliser()
    for lang, text in texts.items():
        assert pure.tokens_at(text, lang) == spacy_read.tokens_at(text, lang), lang
        assert isinstance(pure._tokenizer(lang), PureTokenizer)
    assert pure._tokenizer("fr") is pure._tokenizer("xx")  # one "xx" tokenizer for the languages without their own


def test_the_pure_tokenizers_cache_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """KEEP_WORDS bounds what is kept for good, as with spaCy's vocabulary: past it, a text adds nothing."""
    assert SHIPPED is not None
    monkeypatch.setattr(features, "KEEP_WORDS", 1_000)
    norm = features.Normaliser(tokenizer_dir=SHIPPED)
    rng = random.Random(7)
    sizes = []
    for _ in range(20):
        garbage = " ".join("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(9)) for _ in range(200))
        assert len(norm.tokens(garbage, "en")) == 200
        sizes.append(norm._tokenizer("en").cached)  # type: ignore[attr-defined]
    assert 1_000 <= sizes[-1] < 1_000 + 200 + 10 and sizes[-1] == sizes[8]


def test_a_loaded_model_classifies_without_importing_spacy() -> None:
    code = (
        "import sys\n"
        "from responsemaster.classify import build_classifier\n"
        "c = build_classifier()\n"
        "v = c.classify(b'From: Jane <jane@example.org>\\nSubject: Re: news\\n\\nThanks a lot, see you Monday!\\n')\n"
        "print(v.decided_by.startswith('model:'), 'spacy' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300,
                         cwd=REPO).stdout
    assert out.split("\n")[0] == "True False"
