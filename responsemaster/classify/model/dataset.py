"""Labelled examples from ``training_data/``: what the model learns from.

Layout (any folder with this shape works, e.g. a copy used by a test):

    training_data/<category>/*.eml          imported corpus + reviewed corrections
    training_data/SOURCES.jsonl             file, category, reason, source, licence, corpus_set, corpus_file
    training_data/relabels.jsonl            corrections (see corrections.py), with recipient-level labels
    training_data/extra/<category>/*.eml    further real messages
    training_data/extra/SOURCES.jsonl       file, category, reason, source, licence
    training_data/<set>/labels.jsonl        any further labelled set in the corpus format
                                            (file, category, recipients, source[, provenance]):
                                            the provider catalogue, the bounce lab, ...

The folder a file sits in is its label; the manifests add where it came from
and, for bounces, the label of each failed recipient (``recipients``: address,
category, reason), which the recipient model learns from.
``origin`` groups examples by where they came from (the project whose test
data a message is, the MTA family of a Sisimai sample, the provider of a
catalogue entry): the unit held out in group cross-validation.
A message that appears twice (same bytes) is used once, so a corpus message
also collected under ``extra/`` cannot leak from training into a held-out
benchmark fold. ``exclude`` names corpus files (``0049cf305105a9bf.eml``)
or training names (``bounces--0049cf305105a9bf.eml``) to leave out.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from responsemaster.categories import CATEGORIES

MANIFEST = "SOURCES.jsonl"
#: Corrections made by people (review queue, ``label``): one row per correction, the latest row per file wins.
CORRECTIONS = "relabels.jsonl"
LABELS = "labels.jsonl"
#: Provenances of generated bounces (see :attr:`Example.provenance`).
GENERATED = frozenset({"catalogue", "lab"})
EXTRA = "extra"
SEPARATOR = "--"


@dataclass(frozen=True)
class RecipientLabel:
    """What a person (or the corpus) says about one failed recipient."""

    address: str
    category: str
    reason: str = ""


@dataclass(frozen=True)
class Example:
    """One labelled message on disk."""

    path: Path
    category: str
    source: str = ""
    licence: str = ""
    corpus_set: str = ""
    corpus_file: str = ""
    sha256: str = ""
    reason: str = ""
    recipients: tuple[RecipientLabel, ...] = ()
    #: How the message came to be: '' for real mail; ``catalogue`` or ``lab`` for bounces made
    #: to measure or teach the recipient model (never used for the message model).
    provenance: str = ""

    @property
    def generated(self) -> bool:
        return self.provenance in GENERATED

    @property
    def group(self) -> str:
        """Name used to hold a message out: its corpus file when it has one."""
        return self.corpus_file or self.path.name

    @property
    def origin(self) -> str:
        return origin(self.source) or self.group

    def read(self) -> bytes:
        return self.path.read_bytes()


#: Projects published under more than one name.
_ALIASES = {"bestpractical/rt": "rt", "request-tracker5": "rt", "rb-sisimai": "sisimai"}
_VERSION = re.compile(r"-\d[\w.+~-]*$")


def origin(source: str) -> str:
    """The group a message's source belongs to, for holding out whole origins.

    ``sisimai/set-of-emails:maildir/bsd/lhost-postfix-80.eml`` ->
    ``set-of-emails:lhost-postfix`` (one group per MTA or provider format,
    wherever the sample was copied from); ``debian-src:notmuch-0.37-1:...`` ->
    ``notmuch``; ``github:rjbs/Mail-DeliveryStatus-BounceParser:...`` and
    ``debian-src:libmail-deliverystatus-bounceparser-perl-...`` ->
    ``mail-deliverystatus-bounceparser``; ``catalogue:gmail:...`` ->
    ``catalogue:gmail``; a reviewer's correction -> ``corrections``.
    """
    if not source:
        return ""
    if "set-of-emails" in source:
        name = source.rsplit("/", 1)[-1].removesuffix(".eml")
        return "set-of-emails:" + re.sub(r"-\d+$", "", name)
    kind, _, rest = source.partition(":")
    if kind in ("review", "label", "cli"):
        return "corrections"
    if kind in ("catalogue", "lab"):
        return f"{kind}:{rest.split(':', 1)[0]}"
    project = rest.split(":", 1)[0] if rest else kind
    project = _ALIASES.get(project.lower(), project)
    project = project.rsplit("/", 1)[-1] if kind == "github" else _VERSION.sub("", project)
    project = project.lower()
    if project.startswith("lib") and project.endswith("-perl"):
        project = project[3:-5]
    return _ALIASES.get(project, project)


def load_examples(data_dir: Path, exclude: Iterable[str] = ()) -> list[Example]:
    """Every labelled message under ``data_dir`` (and its ``extra/``), deduplicated.

    Also accepts a corpus-style folder (``*.eml`` + ``labels.jsonl`` with
    ``file`` and ``category``), so ``evaluate --data ../shared/corpus/bounces``
    works on the shared corpus directly.
    """
    data_dir = Path(data_dir)
    excluded = set(exclude)
    if (data_dir / LABELS).is_file():
        found = _from_labels_file(data_dir)
    else:
        found = _from_category_folders(data_dir) + _from_category_folders(data_dir / EXTRA)
        for folder in labelled_sets(data_dir):
            found += _from_labels_file(folder)
    examples: list[Example] = []
    seen: set[str] = set()
    for example in found:
        if _is_excluded(example, excluded) or example.sha256 in seen:
            continue
        seen.add(example.sha256)
        examples.append(example)
    return examples


def labelled_sets(data_dir: Path) -> list[Path]:
    """Sub-folders of ``data_dir`` holding a corpus-format ``labels.jsonl``."""
    if not Path(data_dir).is_dir():
        return []
    return [f for f in sorted(Path(data_dir).iterdir()) if f.is_dir() and (f / LABELS).is_file()]


def _is_excluded(example: Example, excluded: set[str]) -> bool:
    if not excluded:
        return False
    name = example.path.name
    stripped = name.split(SEPARATOR, 1)[1] if SEPARATOR in name else name
    return bool({name, stripped, example.corpus_file, example.sha256[:16] + ".eml"} & excluded)


def _from_category_folders(root: Path) -> list[Example]:
    if not root.is_dir():
        return []
    manifest = _read_manifest(root / MANIFEST)
    manifest.update(_read_manifest(root / CORRECTIONS))
    examples = []
    for category in CATEGORIES:
        folder = root / category
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.eml")):
            if not path.is_file():
                continue
            row = manifest.get(f"{category}/{path.name}") or manifest.get(path.name) or {}
            examples.append(_example(path, category, row))
    return examples


def _from_labels_file(folder: Path) -> list[Example]:
    examples = []
    for line in (folder / LABELS).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        path = folder / row["file"]
        if row.get("category") in CATEGORIES and path.is_file():
            row = {**row, "corpus_set": folder.name, "corpus_file": row["file"]}
            examples.append(_example(path, row["category"], row))
    return examples


def _example(path: Path, category: str, row: dict) -> Example:
    return Example(
        path=path,
        category=category,
        source=str(row.get("source", "")),
        licence=str(row.get("licence", "")),
        corpus_set=str(row.get("corpus_set", "")),
        corpus_file=str(row.get("corpus_file", "")),
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        reason=str(row.get("reason", "") or ""),
        recipients=tuple(
            RecipientLabel(str(r["address"]).lower(), str(r.get("category", "") or ""), str(r.get("reason", "") or ""))
            for r in row.get("recipients") or () if isinstance(r, dict) and r.get("address")
        ),
        provenance=str(row.get("provenance", "") or ""),
    )


def _read_manifest(path: Path) -> dict[str, dict]:
    """Manifest rows by the file name they describe (relative path and bare name)."""
    rows: dict[str, dict] = {}
    if not path.is_file():
        return rows
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        name = str(row.get("file", ""))
        if not name:
            continue
        rows[name] = row
        rows.setdefault(Path(name).name, row)
        if name.startswith(EXTRA + "/"):
            rows.setdefault(name[len(EXTRA) + 1 :], row)
    return rows


def counts(examples: Iterable[Example]) -> dict[str, int]:
    """Examples per category, every category listed."""
    found = Counter(e.category for e in examples)
    return {category: found.get(category, 0) for category in CATEGORIES}


def data_hash(data_dir: Path, examples: Iterable[Example]) -> str:
    """SHA-256 over the manifests and every example (label, name, content hash).

    Two trainings on the same bytes get the same hash, whatever the machine.
    """
    digest = hashlib.sha256()
    manifests = [Path(data_dir) / MANIFEST, Path(data_dir) / EXTRA / MANIFEST]
    manifests += [folder / LABELS for folder in labelled_sets(data_dir)]
    for manifest in manifests:
        if manifest.is_file():
            digest.update(manifest.read_bytes())
    for example in sorted(examples, key=lambda e: (e.category, e.path.name, e.sha256)):
        digest.update(f"{example.category}\t{example.path.name}\t{example.sha256}\n".encode())
    return digest.hexdigest()
