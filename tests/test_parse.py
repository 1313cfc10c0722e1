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
