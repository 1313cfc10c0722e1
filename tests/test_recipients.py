"""Which reported addresses are failed recipients (docs/bounces.md): each once, none of ours or a list's."""

from __future__ import annotations

from responsemaster.classify.detection import recipient
from responsemaster.classify.pipeline import Classifier
from responsemaster.classify.recipients import clean, is_list_address, strip_quotes
from responsemaster.parse.message import parse_message

DSN = b"""From: MAILER-DAEMON@mx.example.net
To: bounces+abc@news.example.com
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

Delivery failed.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

%(blocks)s
--B
Content-Type: message/rfc822

Return-Path: <bounces+abc@news.example.com>
From: news@example.com
To: someone@example.org
List-Post: <mailto:announce@lists.example.com>
List-Unsubscribe: <mailto:announce-request@lists.example.com?subject=unsubscribe>
Subject: Our news

Hello
--B--
"""


def _block(address: str, status: str = "5.1.1", diag: str = "550 5.1.1 User unknown") -> str:
    return (f"Final-Recipient: rfc822; {address}\nAction: failed\nStatus: {status}\n"
            f"Diagnostic-Code: smtp; {diag}\n\n")


def _classify(*addresses: str) -> list[str]:
    raw = DSN % {b"blocks": "".join(_block(a) for a in addresses).encode()}
    verdict = Classifier().classify(raw)
    assert verdict.error is None
    return [r.address for r in verdict.recipients]


def test_one_report_per_recipient() -> None:
    assert _classify("someone@example.org", "someone@example.org", "Someone@Example.org") == ["someone@example.org"]


def test_list_and_own_addresses_are_not_failed_recipients() -> None:
    got = _classify("someone@example.org", "announce@lists.example.com", "announce-request@lists.example.com",
                    "bounces+abc@news.example.com")
    assert got == ["someone@example.org"]


def test_a_report_naming_only_one_placeholder_address_keeps_it() -> None:
    # Anonymised samples give the envelope sender and the failed recipient one address.
    assert _classify("bounces+abc@news.example.com") == ["bounces+abc@news.example.com"]


def test_quotes_are_not_part_of_an_address() -> None:
    assert strip_quotes("'user@example.org'") == "user@example.org"
    assert strip_quotes('"user@example.org') == "user@example.org"
    msg = parse_message(b"From: a@b\n\nhi")
    got = clean([recipient("'x@example.org"), recipient("x@example.org")], msg)
    assert [r.address for r in got] == ["x@example.org"]


def test_list_manager_addresses() -> None:
    assert is_list_address("announce-request@lists.example.com")
    assert is_list_address("owner-announce@lists.example.com")
    assert is_list_address("announce-bounces+x=y@lists.example.com")
    assert not is_list_address("site-admin@example.com")
    assert not is_list_address("requester@example.com")
