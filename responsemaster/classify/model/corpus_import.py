"""Copy the shared labelled corpus into ``training_data/<category>/``.

    python -m responsemaster.classify.model.corpus_import [--corpus DIR] [--out DIR]

Why a program and not a one-off copy: the corpus grows, and every copied
message must keep its label, its origin and its licence. Each file is named
``<set>--<original name>`` (e.g. ``bounces--000194ed06887898.eml``) so a
benchmark can leave a corpus file out of training and score it held out.
The manifest ``training_data/SOURCES.jsonl`` records, per file: category,
reason, source, licence, corpus set, corpus file and the labelled
recipients (address, category, reason: what the recipient model learns
from); licence texts go to
``training_data/LICENSES/``. Bytes are copied unchanged.
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections import Counter
from pathlib import Path

from responsemaster.categories import CATEGORIES

DEFAULT_CORPUS = Path(__file__).resolve().parents[4] / "shared" / "corpus"
DEFAULT_OUT = Path(__file__).resolve().parents[3] / "training_data"
MANIFEST = "SOURCES.jsonl"
SEPARATOR = "--"

#: The corpus sets and the licence of rows that name none (bounces/ is all BSD-2-Clause).
SETS: dict[str, str] = {"bounces": "BSD-2-Clause", "hand-labelled": ""}


def training_name(corpus_set: str, corpus_file: str) -> str:
    """The file name a corpus message gets in training_data/."""
    return f"{corpus_set}{SEPARATOR}{corpus_file}"


def import_corpus(corpus: Path, out: Path) -> Counter[str]:
    """Copy every labelled message of ``corpus`` into ``out``; rewrite the manifest.

    Only files this importer owns (``<set>--*``) are replaced, so other
    manifests (``extra/SOURCES.jsonl``) and hand-placed files are untouched.
    """
    rows: list[dict[str, str]] = []
    counts: Counter[str] = Counter()
    for corpus_set, default_licence in SETS.items():
        folder = corpus / corpus_set
        labels = folder / "labels.jsonl"
        if not labels.exists():
            continue
        _remove_previous(out, corpus_set)
        for line in labels.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            label = json.loads(line)
            category = label["category"]
            if category not in CATEGORIES:
                raise ValueError(f"{labels}: unknown category {category!r} for {label['file']}")
            name = training_name(corpus_set, label["file"])
            target = out / category / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(folder / label["file"], target)
            recipients = label.get("recipients") or []
            reason = (recipients[0].get("reason") if recipients else "") or ""
            rows.append(
                {
                    "file": f"{category}/{name}",
                    "category": category,
                    "reason": reason,
                    "source": label.get("source", ""),
                    "licence": label.get("licence") or default_licence,
                    "corpus_set": corpus_set,
                    "corpus_file": label["file"],
                    "recipients": [_recipient_label(r) for r in recipients if r.get("address")],
                }
            )
            counts[category] += 1
        _copy_licences(folder, out / "LICENSES", corpus_set)
    rows.sort(key=lambda r: r["file"])
    with (out / MANIFEST).open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
    return counts


def _recipient_label(label: dict) -> dict[str, str]:
    return {"address": label["address"].lower(), "category": label.get("category", ""),
            "reason": label.get("reason", "")}


def _remove_previous(out: Path, corpus_set: str) -> None:
    for old in out.glob(f"*/{corpus_set}{SEPARATOR}*"):
        old.unlink()


def _copy_licences(folder: Path, target: Path, corpus_set: str) -> None:
    target.mkdir(parents=True, exist_ok=True)
    if (folder / "LICENSE").is_file():
        shutil.copyfile(folder / "LICENSE", target / f"{corpus_set}-LICENSE.txt")
    if (folder / "LICENSES").is_dir():
        for licence in sorted((folder / "LICENSES").iterdir()):
            if licence.is_file():
                shutil.copyfile(licence, target / f"{corpus_set}-{licence.name}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    counts = import_corpus(args.corpus, args.out)
    for category in CATEGORIES:
        print(f"{category:22} {counts.get(category, 0)}")
    print(f"{'total':22} {sum(counts.values())}")


if __name__ == "__main__":
    main()
