"""Attribution of returned mail: VERP first, then Message-ID, DSN, headers, From.

Built on real corpus messages with a VERP envelope recipient or a tokened
In-Reply-To added, as an MTA or a mail client would.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from responsemaster.classify.pipeline import Classifier
from responsemaster.classify.rules import RuleSet
from responsemaster.verp import Keyring, encode_token, message_id, return_path
from responsemaster.verp_keys import token_reader

SECTION = {"prefix": "bounces", "bounce_domain": "bounces.example.org"}
KEYRING = Keyring({"k1": b"0123456789abcdef0123"}, current="k1")
OTHER = Keyring({"k1": b"another-secret-of-20b"}, current="k1")


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier(rules=RuleSet.load(), model=None, read_token=token_reader(KEYRING, SECTION))


def _dsn(corpus: Path) -> bytes:
    # A Postfix-style RFC 3464 DSN reporting one failed recipient.
    return (corpus / "bounces" / "00d6c7758e4769aa.eml").read_bytes()


def _with_header(raw: bytes, name: str, value: str) -> bytes:
    return f"{name}: {value}\r\n".encode() + raw


def test_valid_verp_token_names_subscriber_and_campaign(corpus: Path, classifier: Classifier) -> None:
    address = return_path("bounces", encode_token("c42", "1001", KEYRING), "bounces.example.org")
    verdict = classifier.classify(_with_header(_dsn(corpus), "X-Original-To", address))
    assert verdict.attribution.via == "verp"
    assert (verdict.attribution.subscriber, verdict.attribution.campaign) == ("1001", "c42")
    assert not verdict.attribution.forged_token


def test_case_folded_verp_address_still_verifies(corpus: Path, classifier: Classifier) -> None:
    address = return_path("bounces", encode_token("c42", "1001", KEYRING), "bounces.example.org").upper()
    verdict = classifier.classify(_with_header(_dsn(corpus), "Delivered-To", address))
    assert verdict.attribution.via == "verp"
    assert verdict.attribution.subscriber == "1001"


def test_forged_token_is_flagged_and_not_trusted(corpus: Path, classifier: Classifier) -> None:
    forged = return_path("bounces", encode_token("c42", "1001", OTHER), "bounces.example.org")
    verdict = classifier.classify(_with_header(_dsn(corpus), "X-Original-To", forged))
    assert verdict.attribution.forged_token
    assert verdict.attribution.via != "verp"
    assert verdict.attribution.subscriber != "1001"
    # The message itself is still classified from its structure.
    assert verdict.category == "mailbox_full"


def test_reply_attributed_through_in_reply_to(corpus: Path, classifier: Classifier) -> None:
    raw = (corpus / "hand-labelled" / "00121900edd474d1.eml").read_bytes()  # an LKML reply
    token = encode_token("c7", "55", KEYRING)
    msgid = message_id(token, "bounces.example.org", nonce="n1")
    verdict = classifier.classify(_with_header(raw, "In-Reply-To", msgid))
    assert verdict.attribution.via == "message-id"
    assert (verdict.attribution.subscriber, verdict.attribution.campaign) == ("55", "c7")


def test_foreign_message_ids_are_not_flagged(corpus: Path, classifier: Classifier) -> None:
    raw = (corpus / "hand-labelled" / "00121900edd474d1.eml").read_bytes()
    verdict = classifier.classify(raw)
    assert not verdict.attribution.forged_token
    assert verdict.attribution.via == "from"


def test_without_verp_the_dsn_recipient_is_the_subscriber(corpus: Path) -> None:
    verdict = Classifier(rules=RuleSet.load()).classify(_dsn(corpus))
    assert verdict.attribution.via == "dsn"
    assert verdict.attribution.subscriber == verdict.recipients[0].address
