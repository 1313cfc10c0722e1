"""Published provider refusals, wrapped in the bounces real MTAs write: extra training data.

    python -m responsemaster.classify.model.catalogue [--data training_data]

``training_data/catalogue/replies.jsonl`` lists rejection replies that mailbox
providers and mail filters document (Gmail, Microsoft, Yahoo, Apple, Comcast,
GMX, Mimecast, Proofpoint, Barracuda, Cisco, ...) and the stock refusals of
the common MTAs: per reply the provider, its MX host, a recipient domain,
the reply code, the RFC 3463 status, the SMTP stage it answers, the reason
(Sisimai's vocabulary) and the text. The codes and identifiers are the
providers' published facts; the wording is ours, written from their
documentation, not copied.

Each reply becomes two bounces, the shapes most returned mail has: a
Postfix RFC 3464 DSN and an Exim plain-text bounce, written to
``training_data/catalogue/*.eml`` with ``labels.jsonl`` in the corpus format
(file, category, recipients, source ``catalogue:<provider>:<n>``,
``provenance: catalogue``). They are training data only: made here, they are
never a test set, and the group benchmark holds each provider out whole
when it reports the "provider refusals" figure. The recipient model learns
from them; the message model does not (detectors always recognise a DSN).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from responsemaster.categories import category_of

FOLDER = "catalogue"
REPLIES = "replies.jsonl"
LABELS = "labels.jsonl"
PROVENANCE = "catalogue"
SENDER = "news@letters.example.com"
RETURN_PATH = "bounces+{token}@letters.example.com"
_LOCAL_PARTS = ("anna.k", "j.smith", "mkowalski", "li.wei", "p.dubois", "sara_m", "tomas88", "info.desk")
_STAGE_POSTFIX = {"RCPT": "RCPT TO", "MAIL": "MAIL FROM", "DATA": "end of DATA", "": "RCPT TO"}
_STAGE_EXIM = {"RCPT": "RCPT TO:<{rcpt}>", "MAIL": "MAIL FROM:<{sender}>", "DATA": "end of data", "": "RCPT TO:<{rcpt}>"}


@dataclass(frozen=True)
class Reply:
    number: int
    provider: str
    host: str
    domain: str
    code: str
    status: str
    stage: str
    reason: str
    text: str

    @property
    def line(self) -> str:
        """The reply as the server sends it: code, status (when it has one), text."""
        return " ".join(part for part in (self.code, self.status, self.text) if part)

    def status_or_class(self) -> str:
        return self.status or f"{self.code[:1]}.0.0"


def read_replies(path: Path) -> list[Reply]:
    replies = []
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if line.strip():
            row = json.loads(line)
            replies.append(Reply(number=number, **{k: str(row.get(k, "")) for k in
                                                   ("provider", "host", "domain", "code", "status", "stage",
                                                    "reason", "text")}))
    return replies


def bounces(reply: Reply) -> Iterator[tuple[str, str, bytes]]:
    """``(shape, recipient address, raw bounce)`` for each shape of bounce."""
    digest = hashlib.sha256(f"{reply.number}:{reply.text}".encode()).hexdigest()
    local = _LOCAL_PARTS[int(digest[:4], 16) % len(_LOCAL_PARTS)]
    rcpt = f"{local}{int(digest[4:6], 16) % 90 + 10}@{reply.domain}"
    token = digest[8:20]
    yield "postfix", rcpt, _postfix(reply, rcpt, token).encode("utf-8")
    yield "exim", rcpt, _exim(reply, rcpt, token).encode("utf-8")


def _original(rcpt: str, token: str) -> str:
    return (f"Return-Path: <{RETURN_PATH.format(token=token)}>\nFrom: Letters <{SENDER}>\nTo: {rcpt}\n"
            f"Subject: Our letter for this month\nMessage-ID: <{token}@letters.example.com>\n"
            "Date: Mon, 02 Mar 2026 09:00:00 +0000\n")


def _postfix(reply: Reply, rcpt: str, token: str) -> str:
    boundary = f"{token[:8]}.1772442000/mail.letters.example.com"
    if reply.stage == "CONN":
        said = f"host {reply.host}[192.0.2.25] refused to talk to me: {reply.line}"
    else:
        said = f"host {reply.host}[192.0.2.25] said: {reply.line} (in reply to {_STAGE_POSTFIX[reply.stage]} command)"
    return (
        f"From: MAILER-DAEMON@mail.letters.example.com (Mail Delivery System)\n"
        f"Subject: Undelivered Mail Returned to Sender\nTo: {RETURN_PATH.format(token=token)}\n"
        f"Auto-Submitted: auto-replied\nMIME-Version: 1.0\n"
        f"Content-Type: multipart/report; report-type=delivery-status;\n\tboundary=\"{boundary}\"\n"
        f"Message-Id: <{token[::-1]}@mail.letters.example.com>\nDate: Mon, 02 Mar 2026 09:05:00 +0000\n\n"
        f"This is a MIME-encapsulated message.\n\n--{boundary}\nContent-Description: Notification\n"
        f"Content-Type: text/plain; charset=us-ascii\n\nThis is the mail system at host mail.letters.example.com.\n\n"
        f"I'm sorry to have to inform you that your message could not\nbe delivered to one or more recipients.\n\n"
        f"<{rcpt}>: {said}\n\n--{boundary}\nContent-Description: Delivery report\n"
        f"Content-Type: message/delivery-status\n\nReporting-MTA: dns; mail.letters.example.com\n"
        f"Arrival-Date: Mon, 02 Mar 2026 09:00:00 +0000\n\nFinal-Recipient: rfc822; {rcpt}\n"
        f"Original-Recipient: rfc822;{rcpt}\nAction: failed\nStatus: {reply.status_or_class()}\n"
        f"Remote-MTA: dns; {reply.host}\nDiagnostic-Code: smtp; {reply.line}\n\n--{boundary}\n"
        f"Content-Description: Undelivered Message Headers\nContent-Type: text/rfc822-headers\n\n"
        f"{_original(rcpt, token)}\n--{boundary}--\n"
    )


def _exim(reply: Reply, rcpt: str, token: str) -> str:
    if reply.stage == "CONN":
        after = "SMTP error from remote mail server after initial connection:"
    else:
        after = f"SMTP error from remote mail server after {_STAGE_EXIM[reply.stage].format(rcpt=rcpt, sender=SENDER)}:"
    permanence = "This is a permanent error." if reply.code[:1] == "5" else "Retry time expired."
    return (
        f"From: Mail Delivery System <Mailer-Daemon@mx.letters.example.com>\nTo: {RETURN_PATH.format(token=token)}\n"
        f"Subject: Mail delivery failed: returning message to sender\nAuto-Submitted: auto-replied\n"
        f"X-Failed-Recipients: {rcpt}\nMessage-Id: <E1{token}@mx.letters.example.com>\n"
        f"Date: Mon, 02 Mar 2026 09:05:00 +0000\n\n"
        f"This message was created automatically by mail delivery software.\n\n"
        f"A message that you sent could not be delivered to one or more of its\nrecipients. {permanence} "
        f"The following address(es) failed:\n\n  {rcpt}\n    host {reply.host} [192.0.2.25]\n    {after}\n"
        f"    {reply.line}\n\n------ This is a copy of the message, including all the headers. ------\n\n"
        f"{_original(rcpt, token)}\nHello, here is our news.\n"
    )


def write(data_dir: Path) -> int:
    """Regenerate ``data_dir/catalogue/*.eml`` and ``labels.jsonl`` from ``replies.jsonl``; the count."""
    folder = Path(data_dir) / FOLDER
    replies = read_replies(folder / REPLIES)
    for old in folder.glob("*.eml"):
        old.unlink()
    rows = []
    for reply in replies:
        category = str(category_of(reply.reason))
        for shape, rcpt, raw in bounces(reply):
            name = f"{reply.provider}-{reply.number:03d}-{shape}.eml"
            (folder / name).write_bytes(raw)
            rows.append({"file": name, "category": category, "provenance": PROVENANCE,
                         "source": f"catalogue:{reply.provider}:{reply.number}",
                         "recipients": [{"address": rcpt, "category": category, "reason": reply.reason}]})
    (folder / LABELS).write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows), "utf-8")
    return len(rows)


def main(argv: list[str] | None = None) -> None:
    from responsemaster.classify.model.training import REPO_DATA

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO_DATA, help="training data folder (default: the repo's)")
    args = parser.parse_args(argv)
    print(f"{write(args.data)} bounces written to {args.data / FOLDER}")


if __name__ == "__main__":
    main()
