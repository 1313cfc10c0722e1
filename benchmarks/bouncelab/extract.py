"""Catalogue entries from the labelled corpus: the replies real servers sent, with their labels.

    python -m benchmarks.bouncelab.extract [--corpus DIR] [--out benchmarks/bouncelab/catalogue/corpus.jsonl]

For every labelled bounce recipient of ``bounces/`` and ``hand-labelled/``
whose message carries an RFC 3464 Diagnostic-Code for that recipient, the
reply code, status and text are split apart (a reply joined from several
lines, "550-5.1.1 a 550 5.1.1 b", becomes a multi-line text again), the
recipient's own address in the text becomes ``{rcpt}``, and the label is the
corpus's (reason; category from docs/bounces.md). Texts are deduplicated.
User-unknown wordings get both SMTP stages (RCPT: userunknown, end of DATA:
filtered, the reading of docs/bounces.md). Provenance names the corpus file and source.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import re
from pathlib import Path

from benchmarks.corpus import find_corpus
from responsemaster.categories import BOUNCE_CATEGORIES, REASON_TO_CATEGORY

from .catalogue import CATALOGUE_DIR

REPLY = re.compile(r"^(?P<code>[245]\d\d)(?:[ -](?P<status>[245]\.\d{1,3}\.\d{1,3}))?[ -]?(?P<text>.*)$", re.S)
CONTINUATION = re.compile(r"\s+(?P<code>[245]\d\d)[- ](?:[245]\.\d{1,3}\.\d{1,3}\s)?")
ADDRESS = re.compile(r"<?[\w.+=-]+@[\w.-]+\w>?")
USER_UNKNOWN = re.compile(
    r"unknown (?:user|recipient|mailbox)|(?:user|recipient|mailbox) (?:unknown|not found|does not exist)|"
    r"no such (?:user|mailbox|recipient)|mailbox unavailable|invalid (?:recipient|mailbox)", re.I)
PREFIX = re.compile(r"^\s*(?:smtp|x-[\w-]+|mailer|x-unix)\s*;\s*", re.I)


def diagnostics(raw: bytes) -> dict[str, str]:
    """Final-Recipient (lower-case) -> Diagnostic-Code of every delivery-status block."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    found: dict[str, str] = {}
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        payload = part.get_payload()
        blocks = payload if isinstance(payload, list) else []
        if not blocks and isinstance(payload, str):
            blocks = [email.message_from_string(b) for b in re.split(r"\n\s*\n", payload)]
        for block in blocks:
            rcpt, code = block.get("Final-Recipient", ""), block.get("Diagnostic-Code", "")
            if rcpt and code:
                address = rcpt.split(";", 1)[-1].strip().strip("<>").lower()
                found[address] = re.sub(r"\s+", " ", str(code)).strip()
    return found


def split_reply(diagnostic: str, address: str) -> tuple[int, str, str] | None:
    text = PREFIX.sub("", diagnostic)
    match = REPLY.match(text)
    if not match:
        return None
    code, status, body = int(match["code"]), match["status"] or "", match["text"].strip()
    body = CONTINUATION.sub("\n", body)
    body = re.sub(re.escape(address), "{rcpt}", body, flags=re.I)
    body = "\n".join(line.strip() for line in body.split("\n") if line.strip())
    if len(body) < 4 or code < 400:
        return None
    return code, status, body


def extract(corpus: Path) -> list[dict]:
    seen: set[str] = set()
    out: list[dict] = []
    for set_name in ("bounces", "hand-labelled"):
        labels = corpus / set_name / "labels.jsonl"
        if not labels.is_file():
            continue
        for line in labels.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            rcpts = [r for r in row.get("recipients", []) if r.get("reason") in REASON_TO_CATEGORY]
            if not rcpts:
                continue
            codes = diagnostics((corpus / set_name / row["file"]).read_bytes())
            for rcpt in rcpts:
                reason = rcpt["reason"]
                if REASON_TO_CATEGORY[reason] not in BOUNCE_CATEGORIES:
                    continue
                split = split_reply(codes.get(rcpt["address"].lower(), ""), rcpt["address"])
                if split is None:
                    continue
                code, status, text = split
                if status and status[0] != str(code)[0]:
                    status = ""
                key = f"{code}|{status}|{text.lower()}"
                if key in seen:
                    continue
                seen.add(key)
                entry = {
                    "id": f"corpus-{row['file'][:12]}-{len(out)}",
                    "code": code, "status": status, "text": text, "reason": reason,
                    "provenance": f"corpus {set_name}/{row['file']} ({row.get('source', '')}); label {row.get('labelled_by', 'hand')}",
                    "stages": ["rcpt"],
                }
                if code >= 500 and reason in ("userunknown", "filtered", "rejected") and USER_UNKNOWN.search(text):
                    # The reading of docs/bounces.md: the stage decides, and the lab sets the stage.
                    if reason != "userunknown":
                        entry["provenance"] += f"; relabelled userunknown/filtered by stage (corpus: {reason})"
                    entry["reason"] = "userunknown"
                    entry["stages"] = ["rcpt", "data"]
                    entry["reason_at"] = {"data": "filtered"}
                out.append(entry)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=find_corpus())
    parser.add_argument("--out", type=Path, default=CATALOGUE_DIR / "corpus.jsonl")
    args = parser.parse_args()
    entries = extract(args.corpus)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as handle:
        for entry in entries:
            handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
    print(f"{len(entries)} entries -> {args.out}")


if __name__ == "__main__":
    main()
