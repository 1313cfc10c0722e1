"""Real paths through ``responsemaster run --once``: what an operator configures and what subscribers send.

One Maildir, one config, one run of the real command; each test then reads
one path's outcome from the database and the local SMTP sink:

- ``[classify] rules_files``: an operator's own rules file decides a message;
- the ``message_restriction`` default disposition: alert, never prune;
- an unsubscribe mailed to the tokened ``List-Unsubscribe`` mailto address,
  from another address than the subscribed one (a forwarding alias);
- a forged VERP token (return path or unsubscribe address) prunes and
  unsubscribes no one, even where the bounce names the address.

Tokens come from the mailer's own :class:`mailer.compose.Composer` with the
configured key, the forged ones from another secret under the same key id.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fixtures.sinks import SmtpSink
from fixtures.worker_setup import cli, write_config
from sqlalchemy import select

from mailer.compose import Composer
from mailer.settings import mailer_settings
from responsemaster.config import load_settings
from responsemaster.store import Store, open_store
from responsemaster.store.actions import ActionTaken
from responsemaster.store.base import address_key, domain_of
from responsemaster.store.messages import MessageVerdict, RawMessageRow
from responsemaster.store.subscribers import Campaign, Subscriber, Suppression
from responsemaster.verp import Keyring, encode_token, list_unsubscribe_headers, return_path

SECRET = "a secret for the path tests, 32+ bytes long"
IMPOSTOR = Keyring({"k1": b"not the configured secret, same key id"}, current="k1")
PEOPLE = ("jane@example.org", "big@example.net", "ann@example.com", "bob@example.com", "eve@example.com")
LOCAL_RULES = """
[[rule]]
id = "local.portal-notice"
category = "auto_reply"
reason = "autoresponder"
field = "subject"
pattern = '^ACME portal notice: ticket \\d+ updated$'
description = "Our helpdesk portal's notices: automatic, never a person."
"""


@dataclass
class Outcome:
    store: Store
    ids: dict[str, int]
    sink: SmtpSink
    keys: dict[str, str]  # maildir file name -> which path it exercises
    config: Path
    messages: dict[str, bytes]

    def row(self, name: str) -> tuple[RawMessageRow, MessageVerdict]:
        with self.store.reader() as s:
            return s.execute(select(RawMessageRow, MessageVerdict)
                             .join(MessageVerdict, MessageVerdict.message_id == RawMessageRow.id)
                             .where(RawMessageRow.key == self.keys[name])).one()  # type: ignore[return-value]

    def actions(self, name: str) -> list[tuple[str, str, str]]:
        raw, _ = self.row(name)
        with self.store.reader() as s:
            return sorted(s.execute(select(ActionTaken.disposition, ActionTaken.target, ActionTaken.status)
                                    .where(ActionTaken.message_id == raw.id)).all())  # type: ignore[arg-type]

    def status(self, address: str) -> str:
        with self.store.reader() as s:
            return s.execute(select(Subscriber.status).where(Subscriber.address == address)).scalar_one()

    def suppressed(self) -> set[str]:
        with self.store.reader() as s:
            return set(s.execute(select(Suppression.address)).scalars())


def dsn(recipient: str, status: str, diagnostic: str, envelope_to: str = "bounces@bounces.example.com") -> bytes:
    return (
        f"Return-Path: <>\r\nX-Original-To: {envelope_to}\r\nFrom: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n"
        f"To: {envelope_to}\r\nSubject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        f"--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered to {recipient}.\r\n\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; {diagnostic}\r\n\r\n--B--\r\n"
    ).encode()


def mail(sender: str, to: str, subject: str, body: str = "", message_id: str = "") -> bytes:
    return (f"Return-Path: <{sender}>\r\nDelivered-To: {to}\r\nFrom: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{message_id or abs(hash((sender, subject)))}@mail.example.net>\r\n\r\n{body}\r\n").encode()


def _mailto(token: str) -> str:
    header = list_unsubscribe_headers(token, "unsubscribe@news.example.com", "https://news.example.com/u/{token}")
    return header["List-Unsubscribe"].split("<mailto:", 1)[1].split("?", 1)[0]


def _add_people(store: Store) -> tuple[dict[str, int], int]:
    with store.transaction() as s:
        rows = [Subscriber(address=a, address_key=address_key(a), domain=domain_of(a)) for a in PEOPLE]
        campaign = Campaign(name="spring-letter", status="sent")
        s.add_all([*rows, campaign])
        s.flush()
        return {r.address: int(r.id) for r in rows}, int(campaign.id)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    from fixtures.sinks import SmtpSink as Sink

    sink = Sink()
    sink.controller.start()
    tmp = tmp_path_factory.mktemp("paths")
    (tmp / "rules").mkdir()
    (tmp / "rules" / "local.toml").write_text(LOCAL_RULES)
    box = tmp / "box"
    config = write_config(
        tmp / "rm.toml", box, f"sqlite:///{tmp / 'var' / 'rm.db'}",
        classify={"use_model": False, "rules_files": ["rules/local.toml"]},  # relative to the config file
        verp={"keys": {"k1": SECRET}, "bounce_domain": "bounces.example.com"},
        mailer={"from_address": "News <news@news.example.com>", "unsubscribe_mailto": "unsubscribe@news.example.com",
                "unsubscribe_url": "https://news.example.com/u/{token}"},
        routing={"forward_to": "support@example.net", "alert_to": "deliverability@example.net",
                 "smtp": {"port": sink.port, "timeout": 5}},
    )
    settings = load_settings(config)
    store = open_store(settings)
    ids, campaign = _add_people(store)
    composer = Composer(mailer_settings(settings), campaign, "spring-letter", "News <news@news.example.com>")
    token = {a: composer.token(i) for a, i in ids.items()}
    forged = {a: encode_token(str(campaign), str(i), IMPOSTOR) for a, i in ids.items()}
    messages = {
        "rule-hit": mail("portal@acme.example", "news@news.example.com", "ACME portal notice: ticket 4711 updated",
                         "Your ticket was updated. Do not reply."),
        "rule-miss": mail("portal@acme.example", "news@news.example.com", "ACME portal notice: please call me",
                          "Could someone call me back about my ticket?"),
        "too-big": dsn("big@example.net", "5.3.4", "552 5.3.4 Message size exceeds fixed maximum message size"),
        "unsubscribe": mail("Jane Doe <jane.doe@home.example.net>", _mailto(token["jane@example.org"]), "unsubscribe"),
        "forged-bounce": dsn("ann@example.com", "5.1.1", "550 5.1.1 <ann@example.com>: user unknown",
                             envelope_to=return_path("bounces", forged["ann@example.com"], "bounces.example.com")),
        "forged-unsubscribe": mail("bob@example.com", _mailto(forged["bob@example.com"]), "unsubscribe"),
        "forged-unsubscribe-alias": mail("someone@elsewhere.example", _mailto(forged["eve@example.com"]), "unsubscribe"),
    }
    for sub in ("tmp", "new", "cur"):
        (box / sub).mkdir(parents=True)
    keys = {}
    for n, (name, raw) in enumerate(messages.items()):
        keys[name] = f"{1_700_000_000 + n}.M{n}P1.paths"
        (box / "tmp" / keys[name]).write_bytes(raw)
        os.rename(box / "tmp" / keys[name], box / "new" / keys[name])
    run = cli("run", "--once", "--config", str(config), timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"{len(messages)} processed" in run.stderr, run.stderr[-3000:]
    try:
        yield Outcome(store, ids, sink, keys, config, messages)
    finally:
        store.close()
        sink.controller.stop()


def test_run_uses_the_operators_rules_file(outcome: Outcome) -> None:
    _, hit = outcome.row("rule-hit")
    assert (hit.category, hit.reason, hit.decided_by) == ("auto_reply", "autoresponder", "rule:local.portal-notice")
    _, miss = outcome.row("rule-miss")
    assert miss.decided_by != "rule:local.portal-notice" and miss.category == "user_reply"
    # What the rule changes downstream: the notice is not forwarded to a person, the question is.
    forwarded = b"".join(outcome.sink.messages)
    assert b"please call me" in forwarded and b"ticket 4711" not in forwarded


def test_message_restriction_alerts_and_never_prunes(outcome: Outcome) -> None:
    _, verdict = outcome.row("too-big")
    assert (verdict.category, verdict.reason, verdict.subscriber) == ("message_restriction", "mesgtoobig", "big@example.net")
    assert outcome.status("big@example.net") == "active" and "big@example.net" not in outcome.suppressed()
    actions = outcome.actions("too-big")
    assert ("alert", "example.net", "sent") in actions  # queued, then delivered by the run
    assert not any(name in ("prune", "bounce_score", "unsubscribe", "suppress") for name, _t, _s in actions), actions
    alerts = [m for m in outcome.sink.parsed() if "deliverability@example.net" in str(m["To"])]
    assert len(alerts) == 1 and "message_restriction" in alerts[0].get_content()


def test_an_unsubscribe_mailed_to_the_tokened_address_unsubscribes_the_subscriber(outcome: Outcome) -> None:
    _, verdict = outcome.row("unsubscribe")
    assert (verdict.category, verdict.subscriber, verdict.via, verdict.campaign) == (
        "unsubscribe_request", "jane@example.org", "verp", "spring-letter")
    assert outcome.status("jane@example.org") == "unsubscribed"
    assert "jane@example.org" in outcome.suppressed()


def test_classify_reads_the_unsubscribe_token_as_the_worker_does(outcome: Outcome, tmp_path: Path) -> None:
    path = tmp_path / "unsubscribe.eml"
    path.write_bytes(outcome.messages["unsubscribe"])
    proc = cli("classify", "--jsonl", "--config", str(outcome.config), str(path), timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = json.loads(proc.stdout.splitlines()[0])
    assert line["category"] == "unsubscribe_request"
    assert line["attribution"]["via"] == "verp", line["attribution"]  # not the From of a forwarding alias


def test_a_forged_token_prunes_and_unsubscribes_no_one(outcome: Outcome) -> None:
    for name in ("forged-bounce", "forged-unsubscribe", "forged-unsubscribe-alias"):
        _, verdict = outcome.row(name)
        assert verdict.forged_token, name
        actions = outcome.actions(name)
        assert ("flag_forged_token", verdict.subscriber or "-", "flagged") in actions, actions
        assert not [a for a in actions if a[0] in ("prune", "unsubscribe", "suppress") and a[2] != "flagged"], actions
    _, bounce = outcome.row("forged-bounce")
    assert (bounce.category, bounce.subscriber) == ("hard_bounce", "ann@example.com")  # still classified and attributed
    for address in ("ann@example.com", "bob@example.com", "eve@example.com"):
        assert outcome.status(address) == "active", address
    assert outcome.suppressed() == {"jane@example.org"}  # only the genuine request
