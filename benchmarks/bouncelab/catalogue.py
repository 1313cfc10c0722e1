"""The reply catalogue: what the scripted receiver says, and what each reply means.

The catalogue is data in ``benchmarks/bouncelab/catalogue/``: hand-written
TOML files (provider replies, RFC 3463 codes, network behaviours) and
``corpus.jsonl``, extracted from the labelled corpus by ``extract.py``.
Each entry is one server answer with its label (a Sisimai reason; the
category follows from docs/bounces.md) and where it comes from.

An entry may list several SMTP stages; it is expanded into one entry per
stage (id ``<id>@<stage>``), with ``reason_at`` overriding the label per
stage. That is how a user-unknown wording is both ``userunknown`` (said at
RCPT) and ``filtered`` (said at end of DATA), the reading of docs/bounces.md.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from responsemaster.categories import REASON_TO_CATEGORY

CATALOGUE_DIR = Path(__file__).resolve().parent / "catalogue"
STAGES = ("connect", "mail", "rcpt", "data")
#: What the receiver does instead of answering with text (connect stage only).
BEHAVIOURS = ("reply", "refuse", "silent", "nohost", "quota")


@dataclass(frozen=True)
class Entry:
    id: str
    code: int
    status: str
    text: str
    stage: str
    reason: str
    provenance: str
    provider: str = ""
    language: str = "en"
    behaviour: str = "reply"
    #: the receiving host's name, when the provider publishes it (else mx.<domain>)
    host: str = ""
    #: recipient domains typical for the entry's provider (else the lab's generic domains)
    domains: tuple[str, ...] = ()
    #: continuation lines of a multi-line reply repeat the status (Gmail does, many do not)
    status_each_line: bool = True

    @property
    def category(self) -> str:
        return REASON_TO_CATEGORY[self.reason].value

    @property
    def temporary(self) -> bool:
        return 400 <= self.code < 500

    def render(self, rcpt: str) -> str:
        """The SMTP reply lines for ``rcpt``, CRLF-joined, ready to send."""
        local, _, domain = rcpt.partition("@")
        text = self.text.replace("{rcpt}", rcpt).replace("{local}", local).replace("{domain}", domain)
        lines = text.split("\n")
        out = []
        for i, line in enumerate(lines):
            last = i == len(lines) - 1
            status = f"{self.status} " if self.status and (i == 0 or self.status_each_line) else ""
            out.append(f"{self.code}{' ' if last else '-'}{status}{line}".rstrip())
        return "\r\n".join(out)


@dataclass
class Catalogue:
    entries: dict[str, Entry] = field(default_factory=dict)

    def add(self, entry: Entry) -> None:
        if entry.id in self.entries:
            raise ValueError(f"duplicate catalogue id {entry.id}")
        if entry.reason not in REASON_TO_CATEGORY:
            raise ValueError(f"{entry.id}: unknown reason {entry.reason!r}")
        if entry.stage not in STAGES or entry.behaviour not in BEHAVIOURS:
            raise ValueError(f"{entry.id}: bad stage {entry.stage!r} or behaviour {entry.behaviour!r}")
        if entry.behaviour == "reply" and not 400 <= entry.code < 600:
            raise ValueError(f"{entry.id}: reply code {entry.code} is not a failure")
        if entry.status and entry.code and entry.status[0] != str(entry.code)[0]:
            raise ValueError(f"{entry.id}: status {entry.status} contradicts code {entry.code}")
        self.entries[entry.id] = entry

    def select(self, **where: object) -> list[Entry]:
        return [e for e in self.entries.values() if all(getattr(e, k) == v for k, v in where.items())]

    def __len__(self) -> int:
        return len(self.entries)


def expand(raw: dict, source: str) -> list[Entry]:
    """One raw record (TOML table or JSON line) -> one Entry per stage it lists.

    A permanent user-unknown entry that names no stage is offered at both
    RCPT (userunknown) and end of DATA (filtered): the reading of docs/bounces.md.
    """
    raw = dict(raw)
    stages = raw.pop("stages", None) or ([raw.pop("stage")] if "stage" in raw else None)
    reason_at = raw.pop("reason_at", {})
    if stages is None and raw["reason"] == "userunknown" and raw.get("code", 0) >= 500:
        stages, reason_at = ["rcpt", "data"], {"data": "filtered", **reason_at}
    stages = stages or ["rcpt"]
    if "domains" in raw:
        raw["domains"] = tuple(raw["domains"])
    raw.setdefault("provenance", source)
    raw.setdefault("status", "")
    raw.setdefault("code", 0)
    raw.setdefault("text", "")
    base = raw.pop("id")
    out = []
    for stage in stages:
        entry_id = base if len(stages) == 1 else f"{base}@{stage}"
        out.append(Entry(id=entry_id, stage=stage, **{**raw, "reason": reason_at.get(stage, raw["reason"])}))
    return out


def load(folder: Path = CATALOGUE_DIR) -> Catalogue:
    """Every ``*.toml`` and ``*.jsonl`` file of the folder.

    A TOML file holds ``[[group]]`` tables: keys shared by the group's
    entries (provider, host, domains, provenance, language) and ``entries``,
    a list of inline tables (id, code, status, text, reason, stage(s)).
    """
    catalogue = Catalogue()
    for path in sorted(folder.glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        for group in data.get("group", []):
            shared = {k: v for k, v in group.items() if k != "entries"}
            for raw in group.get("entries", []):
                for entry in expand({**shared, **raw}, path.name):
                    catalogue.add(entry)
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                for entry in expand(json.loads(line), path.name):
                    catalogue.add(entry)
    return catalogue
