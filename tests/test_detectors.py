"""Detectors as tables over real corpus messages, checked against the corpus labels.

Each row names a corpus file (from Sisimai's set-of-emails, labelled by Sisimai)
and the detector that must recognise it; category, failed addresses and reasons
are asserted against ``labels.jsonl``, not against our own output. The hard
cases of docs/categories.md are asserted against that page where the labels
disagree with it (delay warnings).
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from pathlib import Path

import pytest

from responsemaster.classify import detectors
from responsemaster.parse.message import parse_message

#: (MTA format, bounces/ file, detector that must claim it)
FORMATS = [
    ("qmail", "0c7b17d842938fe9.eml", "qmail"),
    ("qmail, two recipients", "d7a4946b505a8fbc.eml", "qmail"),
    ("exim", "a66b078372d6caae.eml", "exim"),
    ("exim, 1&1", "32a210b1dd2cd51b.eml", "exim"),
    ("exim, GMX", "e62be2d6c0829860.eml", "exim"),
    ("mail.ru", "08a4b0f0ad8a75e7.eml", "mailru"),
    ("gmail", "29292f162a902600.eml", "gmail"),
    ("yahoo", "01b35730deb18464.eml", "yahoo"),
    ("exchange 2003", "7f7bdaff509ec9ee.eml", "exchange2003"),
    ("office 365", "9ccc5f30f8ed4bce.eml", "office365"),
    ("dragonfly", "0f61b718734656eb.eml", "dragonfly"),
    ("domino", "f982ec923678c1b8.eml", "domino"),
    ("notes (ISO-2022-JP)", "f15438addc2cba82.eml", "notes"),
    ("zoho", "a3d534c7a1e2de2b.eml", "zoho"),
    ("x2", "240ed67d7f4202b0.eml", "x2"),
    ("x3", "17185cf7703fe80c.eml", "x3"),
    ("x4", "406419ff4c673dba.eml", "x4"),
    ("m-FILTER", "ec8f844d079d28a1.eml", "mfilter"),
    ("trend micro", "e6087df59a0da736.eml", "trendmicro"),
    ("imail", "7bd4c85010714afb.eml", "imailserver"),
    ("amazon ses json", "3da5a2fb8fdd555f.eml", "amazonses"),
    ("v5 sendmail", "3e2e946c4e6c3e04.eml", "v5sendmail"),
    ("postfix text", "cabc2668a72c2c8b.eml", "postfix"),
    ("ezweb", "7afffadbf168e479.eml", "ezweb"),
    ("biglobe", "85d4d55ca38ece82.eml", "biglobe"),
    ("mailmarshal", "fc872cfd1b64dbbb.eml", "mailmarshal"),
    ("verizon (broken MIME)", "29edb24a3101e610.eml", "verizon"),
    ("google groups", "57bd4ec2cf6409d8.eml", "googlegroups"),
    ("fml", "152833000d56183c.eml", "fml"),
    ("DSN in text/plain (WorkMail)", "8be72a543cf627f3.eml", "rfc3464"),
    ("DSN inside a bounce of a bounce", "397660e25f7537ac.eml", "rfc3464"),
    ("DSN with a wrong boundary", "b921a605c99d94e3.eml", "rfc3464"),
    ("5.7.1 that is a relay refusal", "598d0be74d4d7b81.eml", "rfc3464"),
    ("5.7.1 that is a DMARC failure", "4165f4e6e8a834ca.eml", "rfc3464"),
    ("5.7.1 that is content (UBE)", "43bd35e0dbaeb035.eml", "rfc3464"),
    ("unknown format, generic fallback", "3e63181af3d6d12f.eml", "generic"),
    # What ties "user unknown" to the address, or does not.
    ("PowerMTA's own bounce category", "33a70e2aed773341.eml", "rfc3464"),
    ("gateway's 'No such user', no stage, 5.0.0", "a0c5849115065b4e.eml", "rfc3464"),
    ("'User unknown' with no stage and no code", "2ba0d4a196647e3d.eml", "sendmail"),
    ("sendmail pipelining: >>> DATA, 503 need RCPT", "e54a2314ecf79cda.eml", "rfc3464"),
    ("Yahoo refuses the address at DATA", "0049cf305105a9bf.eml", "rfc3464"),
    ("au names the missing address", "369db3206e449c4f.eml", "rfc3464"),
    # No Remote-MTA: the Reporting-MTA's own answer, read with its provider's codes.
    ("MessageLabs '542 <addr> Rejected'", "49537ed58548c8af.eml", "rfc3464"),
    ("SES receiving, receipt-rule bounce", "0b32bb537317b3f7.eml", "rfc3464"),
    ("'550 5.7.9 Rejected': the code says why", "320f811622e7b9d9.eml", "rfc3464"),
    ("McAfee appliance: its recipient verification", "faab000ea03ccb4f.eml", "mcafee"),
    ("McAfee appliance: a 5.1.1 it relayed", "226fd362c5375ceb.eml", "mcafee"),
]


#: Where the corpus label (Sisimai 5.1's verdict) and docs/bounces.md read a recipient differently,
#: the reading of docs/bounces.md: "user unknown" with no stage known stays userunknown (Sisimai: filtered).
SPEC_READING = {
    "a0c5849115065b4e.eml": ("hard_bounce", "userunknown"),
    "2ba0d4a196647e3d.eml": ("hard_bounce", "userunknown"),
}


@pytest.fixture(scope="module")
def labels(corpus: Path) -> dict[str, dict]:
    rows = {}
    for set_name in ("bounces", "hand-labelled"):
        for line in (corpus / set_name / "labels.jsonl").read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                rows[row["file"]] = {**row, "path": corpus / set_name / row["file"]}
    return rows


@pytest.mark.parametrize(("fmt", "file", "detector"), FORMATS, ids=[row[0] for row in FORMATS])
def test_format(fmt: str, file: str, detector: str, labels, classifier) -> None:
    label = labels[file]
    verdict = classifier.classify(label["path"].read_bytes())
    assert verdict.decided_by.split(":")[0] == detector, fmt
    category, reason = SPEC_READING.get(file, (label["category"], None))
    assert verdict.category == category
    got = {r.address: r.reason for r in verdict.recipients}
    assert set(got) == {r["address"].lower() for r in label["recipients"]}
    for want in label["recipients"]:
        assert got[want["address"].lower()] == (reason or want["reason"]), want["address"]


def test_every_detector_module_is_registered() -> None:
    registered = {d.__name__ for d in detectors.DETECTORS}
    for info in pkgutil.iter_modules(detectors.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{detectors.__name__}.{info.name}")
        assert module.__name__ in registered, f"{info.name} is not in detectors.DETECTORS"
        assert isinstance(module.name, str) and callable(module.detect)


def test_detectors_say_not_mine_to_garbage() -> None:
    """Nothing here is a report or an automatic answer: every detector answers None (and none raises).

    The last two are the traps: a daemon's From with an address-shaped line
    but no failure words, no status and no code; and a plain human reply.
    """
    garbage = (b"", b"\x00\xff" * 50, b"Subject: hi\n\nhello", b"From: MAILER-DAEMON@x\n\n<a@b>:\n",
               b"From: Jane <jane@example.org>\nSubject: Re: news\n\nThanks, see you then.\n")
    for raw in garbage:
        msg = parse_message(raw)
        claimed = {detector.name: detector.detect(msg) for detector in detectors.DETECTORS}
        assert {name: found for name, found in claimed.items() if found is not None} == {}, raw


# ------------------------------------------------------------ the hard cases of docs/categories.md


def test_delay_warning_is_never_a_bounce(labels, classifier) -> None:
    # Sisimai labels these "expired"; a delay warning is delivery_status (docs/categories.md).
    for file in ("06a55e0e40d76839.eml", "67891bee3a591571.eml", "250c1af2c48193ab.eml"):
        verdict = classifier.classify(labels[file]["path"].read_bytes())
        assert verdict.category == "delivery_status", file
        assert verdict.reason == "delayed", file


def test_forwarded_address_names_the_final_recipient_and_the_subscriber_is_the_original(labels, classifier) -> None:
    # Original-Recipient: contact@example.co.jp, Final-Recipient: kijitora@google.example.com (docs/categories.md)
    verdict = classifier.classify(labels["1bd00b4d14cafef9.eml"]["path"].read_bytes())
    rcpt = verdict.recipients[0]
    assert rcpt.address == "contact@example.co.jp"  # whom routing acts on
    assert rcpt.final_recipient == "kijitora@google.example.com"
    assert verdict.attribution.subscriber == "contact@example.co.jp"
    printed = verdict.to_json()["recipients"][0]  # the classify --jsonl contract
    assert printed["address"] == "kijitora@google.example.com"
    assert printed["original_recipient"] == "contact@example.co.jp"


def _forwarded_dsn(final: str) -> bytes:
    return (
        "From: MAILER-DAEMON@mx.example.com.ar\nSubject: Delivery Status Notification (Failure)\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n"
        "--b\nContent-Type: text/plain\n\nDelivery failed.\n"
        "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.com.ar\n\n"
        f"Original-Recipient: rfc822;someone@example.com.ar\nFinal-Recipient: rfc822;{final}\n"
        "Action: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\n"
        "--b--\n"
    ).encode()


def test_a_final_recipient_no_host_could_have_is_not_reported(classifier) -> None:
    odd = classifier.classify(_forwarded_dsn("someone@ims_daemon")).recipients[0].to_json()
    assert odd["address"] == "someone@example.com.ar" and "original_recipient" not in odd
    moved = classifier.classify(_forwarded_dsn("other@mailhub0")).recipients[0].to_json()
    assert moved["address"] == "other@mailhub0"
    assert moved["original_recipient"] == "someone@example.com.ar"


def test_a_source_routed_final_recipient_leaves_the_original(labels, classifier) -> None:
    # Original-recipient: rfc822;kijitora@example.net, Final-recipient: rfc822;@smtp.example.net:kijitora@server
    rcpt = classifier.classify(labels["498461f24b0a77e1.eml"]["path"].read_bytes()).recipients[0]
    assert (rcpt.address, rcpt.final_recipient) == ("kijitora@example.net", "")
    assert rcpt.to_json()["address"] == "kijitora@example.net"


def test_571_is_decided_by_the_words(labels, classifier) -> None:
    block = classifier.classify(labels["598d0be74d4d7b81.eml"]["path"].read_bytes()).recipients[0]
    unknown = classifier.classify(labels["9c2c87d7cbe4791b.eml"]["path"].read_bytes()).recipients[0]
    assert (block.status, block.category) == ("5.7.1", "mail_block")
    assert (unknown.status, unknown.category, unknown.reason) == ("5.7.1", "hard_bounce", "userunknown")


def test_user_unknown_after_data_is_a_filter(labels, classifier) -> None:
    # "550 Unknown user" in answer to DATA: the address was accepted, the message refused.
    verdict = classifier.classify(labels["9d74c1a83575a1bf.eml"]["path"].read_bytes())
    assert verdict.recipients[0].reason == labels["9d74c1a83575a1bf.eml"]["recipients"][0]["reason"] == "filtered"


def test_exim_delay_warning_addressed_in_the_singular(labels, classifier) -> None:
    # "The address to which the message has not yet been delivered is:" (Exim's
    # warning for one recipient): a delay, whatever the delay reason says.
    verdict = classifier.classify(labels["5eaf86c478bc602e.eml"]["path"].read_bytes())
    assert (verdict.decided_by, verdict.category, verdict.reason) == ("exim", "delivery_status", "delayed")


@pytest.mark.parametrize(
    ("file", "command"),
    [
        # ">>> DATA / <<< 550 unknown user / ... / <<< 503-All RCPT commands were rejected": pipelined RCPT.
        ("e54a2314ecf79cda.eml", "RCPT"),
        # ">>> RCPT TO:<kijitora@example.org> / <<< 553 Invalid recipient ...".
        ("9c2c87d7cbe4791b.eml", "RCPT"),
        # qmail: "65.55.37.120 does not like recipient. Remote host said: 550 ...".
        ("b7b27c47fe07348b.eml", "RCPT"),
    ],
)
def test_smtp_stage_read_from_the_transcript(file: str, command: str, labels, classifier) -> None:
    verdict = classifier.classify(labels[file]["path"].read_bytes())
    assert [r.command for r in verdict.recipients] == [command]
    assert verdict.category == labels[file]["category"] == "hard_bounce"


def test_null_sender_bounce_names_its_recipient(labels, classifier) -> None:
    # "From: <>" is the null sender (a daemon), and "You sent mail to a@b.c.
    # That's not a valid user here." names the failed address. (No stage or
    # code ties the words to the address, so the reason is "filtered".)
    verdict = classifier.classify(labels["0719d41d792d6483.eml"]["path"].read_bytes())
    assert verdict.decided_by == "generic"
    assert [r.address for r in verdict.recipients] == ["a@b.c"]


def test_generic_delay_warning_is_not_a_bounce(labels, classifier) -> None:
    # "Delivery of email to this address ... has been postponed due to a full
    # mailbox. We will continue to try to deliver your message": advisory only.
    verdict = classifier.classify(labels["921fb128ee4d1928.eml"]["path"].read_bytes())
    assert (verdict.decided_by, verdict.category, verdict.reason) == ("generic", "delivery_status", "delayed")
    assert verdict.category == labels["921fb128ee4d1928.eml"]["category"]


def test_refusal_naming_our_sender_is_not_about_the_recipient(labels, classifier) -> None:
    # SES: "5.1.0 - Unknown address error 550-'5.7.1 <...@email-bounces.amazonses.com>...
    # Access denied'": the address refused is the original's Return-Path, our sender.
    label = labels["0c458bc167ffd7ba.eml"]
    rcpt = classifier.classify(label["path"].read_bytes()).recipients[0]
    assert (rcpt.command, rcpt.reason, rcpt.category) == ("MAIL", "rejected", label["category"])


def test_sendmail_transcript_without_verdict_line(labels, classifier) -> None:
    # Active!Hunter: one address under "permanent fatal errors", and a transcript
    # holding only "550 <kijitora@example.ed.jp>: Recipient address rejected: User
    # unknown in local recipient table": Postfix's RCPT-time table lookup. Sisimai,
    # which reads no stage here, says "filtered"; the words say a missing mailbox.
    rcpt = classifier.classify(labels["25a7168182752304.eml"]["path"].read_bytes()).recipients[0]
    assert "local recipient table" in rcpt.diagnostic
    assert (rcpt.command, rcpt.reason) == ("RCPT", "userunknown")
