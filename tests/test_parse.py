"""Parsing primitives on hostile input: bounded time, nothing executed, nothing lost."""

from __future__ import annotations

import time

from responsemaster.classify.pipeline import Classifier
from responsemaster.classify.rules import RuleSet
from responsemaster.parse.message import parse_message
from responsemaster.parse.text import html_to_text


def test_html_to_text_drops_scripts_and_keeps_words() -> None:
    text = html_to_text("<p>Hi<script>alert(1)</script> <b>there</b><br>next<style>a{color:red}</style></p>")
    assert "alert" not in text and "color" not in text
    assert text.split() == ["Hi", "there", "next"]


def test_unclosed_script_tags_cost_linear_time() -> None:
    # With a backtracking engine, 25k unclosed <script> tags took over a minute.
    started = time.perf_counter()
    html_to_text("<script>" * 100_000 + "visible")
    assert time.perf_counter() - started < 5  # a safety bound, not a performance target


def test_hostile_html_reply_is_classified() -> None:
    body = "<html><body>" + "<script>" * 20_000 + "please remove me</body></html>"
    raw = (
        "From: someone@example.org\r\nTo: news@example.com\r\nSubject: Re: news\r\n"
        "Content-Type: text/html; charset=utf-8\r\n\r\n" + body
    ).encode()
    verdict = Classifier(rules=RuleSet.load()).classify(raw)
    assert verdict.error is None
    assert verdict.category


def test_raw_bytes_are_kept_exactly() -> None:
    raw = b"Subject: =?bogus?q?x?=\r\nContent-Type: text/plain; charset=x-nonsense\r\n\r\n\xff\xfe caf\xe9\r\n"
    parsed = parse_message(raw)
    assert parsed.raw is raw
    assert "caf" in parsed.body_text


def test_prose_under_a_delivery_status_label_is_read_as_text() -> None:
    """Some MTAs put the human explanation in a part typed message/delivery-status."""
    raw = (
        b"From: Mail Administrator <Postmaster@mx.example>\n"
        b"Subject: Mail System Error - Returned Mail\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n"
        b"--b\nContent-Type: message/delivery-status\n\n"
        b"This Message was undeliverable due to the following reason:\n\n"
        b"<u@mx.example> has restricted SMS e-mail\n"
        b"--b\nContent-Type: message/delivery-status\n\n"
        b"Reporting-MTA: dns; mx.example\n\n"
        b"Final-Recipient: RFC822; <u@mx.example>\nAction: failed\nStatus: 5.3.0\n"
        b"--b--\n"
    )
    parsed = parse_message(raw)
    assert "<u@mx.example> has restricted SMS e-mail" in parsed.body_text
    assert parsed.delivery_status[1]["final-recipient"] == "RFC822; <u@mx.example>"


def test_a_dsn_part_with_fields_is_not_read_as_prose() -> None:
    raw = (
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n"
        b"--b\nContent-Type: message/delivery-status\n\n"
        b"Reporting-MTA: dns; mx.example\n\n"
        b"Final-Recipient: rfc822; a@b.example\nAction: failed\nStatus: 5.1.1\n"
        b"Remote server said: 550 no such user here\n"
        b"--b--\n"
    )
    parsed = parse_message(raw)
    assert parsed.delivery_status[1]["status"] == "5.1.1"
    assert "550 no such user here" not in parsed.body_text  # a real DSN: fields, not prose


def test_header_address_reads_what_parseaddr_reads() -> None:
    """The fast path for plain From values agrees with the standard parser, and defers to it otherwise."""
    import email.utils

    from responsemaster.parse.text import header_address

    values = [
        "a@b.example", "<a@b.example>", " Foo Bar <foo+x@bar.example> ", "foo@bar.example (Foo)",
        '"Bar, Foo" <f@b.example>', "Foo: <a@b.example>", "a@b.example <c@d.example>", "<a@b.example",
        "Foo <a@b.example> trailing", "", "no address here", "=?utf-8?q?J=C3=B6rg?= <j@b.example>", "<>",
    ]
    for value in values:
        assert header_address(value) == email.utils.parseaddr(value)[1], value


def test_header_address_agrees_with_parseaddr_on_every_short_combination() -> None:
    """Every value of up to four pieces (quotes, brackets, specials, blanks, an address, a name):
    the fast paths (a quoted display name among them) answer what parseaddr answers."""
    import email.utils
    import itertools

    from responsemaster.parse.text import header_address

    pieces = ['"', " ", "Mail Delivery", "<", ">", "a@b.example", "<a@b.example>", "@", ",", ";", ":", "(", ")",
              "\\", '\\"', "\n", "'"]
    for size in range(1, 5):
        for combo in itertools.product(pieces, repeat=size):
            value = "".join(combo)
            assert header_address(value) == email.utils.parseaddr(value)[1], value


def test_the_returned_original_text_is_decoded_on_demand() -> None:
    raw = (
        b"From: MAILER-DAEMON@mx.example\nSubject: Undelivered Mail\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n"
        b"--b\nContent-Type: text/plain\n\nThe mail could not be delivered.\n"
        b"--b\nContent-Type: message/rfc822\n\n"
        b"From: news@list.example\nSubject: Our news\nContent-Type: text/html\n\n"
        b"<html><body><p>Hello <b>reader</b></p><script>x()</script></body></html>\n"
        b"--b--\n"
    )
    parsed = parse_message(raw)
    assert "original_text" not in parsed.__dict__  # nothing computed it while parsing
    assert parsed.original_headers is not None and parsed.original_headers["Subject"] == "Our news"
    assert parsed.original_text == "Hello reader"
