"""Bounded work per message (issue #16): hostile shapes cannot make one message cost minutes.

No timings are asserted. Each test puts a guard on the work itself, which
fails at once where the old code did unbounded work: the standard library's
parameter parser may only see a bounded field, flufl.bounce a bounded copy,
the MIME splitter may only make so many parts. The benchmark
(benchmarks/hostile_bench.py) has the seconds, at 25 MB.
"""

from __future__ import annotations

import email.message
import email.utils
from email.message import Message
from pathlib import Path

import pytest
from sqlalchemy import select
from fixtures.store_backends import db_url, store  # noqa: F401 - fixtures
from fixtures.worker_setup import fill_maildir, maildir_counts

from responsemaster.classify import fallback_addresses
from responsemaster.parse import mime
from responsemaster.parse.message import parse_message
from responsemaster.store.messages import MessageVerdict

HEAD = b"From: MAILER-DAEMON@mx.example.net\r\nTo: bounces@example.org\r\nSubject: Undelivered Mail Returned to Sender\r\n"


@pytest.fixture
def param_parser_guard(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Fails the test as soon as the standard library parses parameters from an unbounded field."""
    real_parseparam, real_decode = email.message._parseparam, email.utils.decode_params
    seen: list[int] = []

    def parseparam(value: str):  # type: ignore[no-untyped-def]
        seen.append(len(value))
        assert len(value) <= mime.MAX_PARAM_FIELD_CHARS, f"_parseparam given {len(value):,} characters"
        return real_parseparam(value)

    def decode_params(params):  # type: ignore[no-untyped-def]
        assert len(params) <= mime.MAX_PARAMS + 1, f"decode_params given {len(params):,} parameters"
        return real_decode(params)

    monkeypatch.setattr(email.message, "_parseparam", parseparam)
    monkeypatch.setattr(email.message.utils, "decode_params", decode_params)
    return seen


@pytest.fixture
def part_guard(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Fails the test as soon as one message makes more Message objects than the limits allow."""
    made = [0]
    real_init = Message.__init__

    def counting_init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        made[0] += 1
        assert made[0] <= 3 * mime.MAX_SPLIT_PARTS, "the MIME splitter made parts without bound"
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(Message, "__init__", counting_init)
    return made


def test_a_million_semicolon_parameters_are_read_up_to_the_cap(classifier, param_parser_guard: list[int]) -> None:  # type: ignore[no-untyped-def]
    raw = HEAD + b"Content-Type: text/plain; charset=iso-8859-1" + b";a=b" * 1_000_000 + b"\r\n\r\nuser unknown\r\n"
    parsed = parse_message(raw)
    assert parsed.headers.get_content_charset() == "iso-8859-1"  # what comes before the cap still counts
    assert any("parameters beyond the first" in d for d in parsed.defects) or "ParametersIgnoredDefect" in parsed.defects
    verdict = classifier.classify(raw)
    assert verdict.error is None and param_parser_guard


def test_a_hundred_thousand_rfc2231_continuations_are_read_up_to_the_cap(classifier, param_parser_guard: list[int]) -> None:  # type: ignore[no-untyped-def]
    params = b"".join(b"; a*%d*=x" % n for n in range(100_000))
    raw = HEAD + b"Content-Type: text/plain" + params + b"\r\n\r\nuser unknown\r\n"
    assert classifier.classify(raw).error is None
    assert "ParametersIgnoredDefect" in parse_message(raw).defects


def test_an_attachment_name_with_endless_parameters(classifier, param_parser_guard: list[int]) -> None:  # type: ignore[no-untyped-def]
    """get_filename reads Content-Disposition: a part's field is capped like the root's, and the parse says so."""
    raw = (HEAD + b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nuser unknown\r\n"
           b"--b\r\nContent-Type: text/csv\r\nContent-Disposition: attachment; filename=list.csv" + b";a=b" * 500_000
           + b"\r\n\r\na,b\r\n--b--\r\n")
    parsed = parse_message(raw)
    assert any(d.startswith("Content-Disposition: parameters beyond") for d in parsed.defects), parsed.defects
    assert classifier.classify(raw).error is None


def test_a_multipart_boundary_behind_endless_parameters(classifier, param_parser_guard: list[int]) -> None:  # type: ignore[no-untyped-def]
    raw = (HEAD + b"Content-Type: multipart/mixed; boundary=b" + b";a=b" * 500_000
           + b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nuser unknown\r\n--b--\r\n")
    parsed = parse_message(raw)
    assert "user unknown" in parsed.body_text  # the boundary came before the cap: the parts are there


def test_the_fallback_scan_gets_a_bounded_copy_of_a_million_short_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    given: list[int] = []
    real = fallback_addresses.bounded_copy

    def recording(root: Message) -> Message:
        copy = real(root)
        given.append(sum(len(p._payload) for p in copy.walk() if isinstance(p._payload, str)))  # type: ignore[attr-defined]
        return copy

    monkeypatch.setattr(fallback_addresses, "bounded_copy", recording)
    parsed = parse_message(HEAD + b"\r\n" + b"a\n" * 1_000_000)
    assert fallback_addresses.recipients(parsed) == []
    assert given and given[0] <= fallback_addresses.TOTAL_CHARS


def test_the_fallback_scan_still_finds_what_flufl_finds(corpus_files: list[Path]) -> None:
    """The bounded copy changes nothing on real mail: the same addresses as the whole message."""
    from flufl.bounce._scan import _DETECTORS

    compared = 0
    for path in corpus_files[::5]:
        parsed = parse_message(path.read_bytes())
        for detector in _DETECTORS:
            try:
                whole = detector().process(parsed.headers)
            except Exception:  # noqa: BLE001
                continue
            assert detector().process(fallback_addresses.bounded_copy(parsed.headers)) == whole, (path, detector)
            compared += 1
    assert compared > 100


def test_half_a_million_parts_make_a_bounded_tree(classifier, part_guard: list[int]) -> None:  # type: ignore[no-untyped-def]
    raw = HEAD + b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + b"--b\n\nx\n" * 500_000 + b"--b--\n"
    tree = mime.parse_bytes(raw)
    assert len(tree.get_payload()) == mime.MAX_SPLIT_PARTS
    assert any(isinstance(d, mime.TooManyPartsDefect) for d in tree.defects)
    part_guard[0] = 0
    assert classifier.classify(raw).error is None


def test_a_delivery_status_of_a_million_blocks_is_bounded(part_guard: list[int]) -> None:
    tree = mime.parse_bytes(b"Content-Type: message/delivery-status\r\n\r\n" + b"Action: failed\n\n" * 1_000_000)
    blocks = tree.get_payload()
    assert len(blocks) < mime.MAX_SPLIT_PARTS and blocks[0]["Action"] == "failed"


def test_a_message_over_its_cpu_deadline_is_quarantined_and_the_worker_goes_on(
    store, classifier, corpus_files: list[Path], tmp_path: Path  # type: ignore[no-untyped-def]  # noqa: F811
) -> None:
    """A message that would hold the worker (the classifier spins on it) is quarantined with the reason,
    its bytes intact; the messages around it are processed."""
    from responsemaster.ingest.maildir_source import MaildirSource
    from responsemaster.routing import OutboxDeliverer, Router, load_routing
    from responsemaster.config import Settings
    from responsemaster.worker import WorkerOptions, drain

    class Spinning:
        def classify(self, raw: bytes):  # type: ignore[no-untyped-def]
            if b"Subject: spin" in raw:
                while True:  # a quadratic corner nobody has bounded yet
                    pass
            return classifier.classify(raw)

    box = tmp_path / "box"
    fill_maildir(box, corpus_files, 4)
    hostile = HEAD.replace(b"Subject: Undelivered Mail Returned to Sender", b"Subject: spin") + b"\r\nhello\r\n"
    (box / "new" / "1700000002.M99P1.spin").write_bytes(hostile)
    router = Router(load_routing(Settings(base_dir=store.var.parent)), store.var)
    source = MaildirSource("returns", box, quarantine=tmp_path / "quarantine")
    total = drain(source, Spinning(), store, router, OutboxDeliverer(store, router.config, "w1"),
                  WorkerOptions(batch_size=10, message_cpu_seconds=0.5), "w1")
    assert (total.processed, total.quarantined, total.failed) == (4, 1, 0)
    [kept] = (tmp_path / "quarantine" / "cur").iterdir()
    assert kept.read_bytes() == hostile
    [reason] = (tmp_path / "quarantine" / "reasons").iterdir()
    assert "CPU seconds" in reason.read_text()
    with store.reader() as session:
        [verdict] = session.execute(select(MessageVerdict).where(MessageVerdict.error.is_not(None))).scalars().all()
    assert (verdict.category, verdict.reason) in ((None, "over_deadline"), ("", "over_deadline"))
    assert maildir_counts(box) == {"inbox": 0, "claimed": 0, "processed": 4}


def test_deep_nesting_of_a_big_message_copies_a_bounded_amount() -> None:
    """Each nesting level copies its part: 60 levels of a 25 MB message held 3 GB. Past COPY_FACTOR
    times the message's size, deeper parts are kept as text."""
    depth = 2000
    opening = b"".join(b"--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n" % (i, i + 1) for i in range(depth))
    filler = b"x" * (5 << 20)
    raw = b"Content-Type: multipart/mixed; boundary=b0\n\n" + opening + b"--b%d\n\n" % depth + filler + b"\n"
    msg, levels = mime.parse_bytes(raw), 0
    while isinstance(msg.get_payload(), list):
        msg, levels = msg.get_payload()[0], levels + 1
    assert levels < mime.COPY_FACTOR + 2, levels
    assert "nested over too many bytes" in str(msg.defects[-1])


def test_the_fallback_scan_gets_no_line_longer_than_rfc_5322_allows() -> None:
    """A megabyte line of '<' after an Exim report: flufl.bounce's address pattern is quadratic in a line."""
    raw = (b"From: MAILER-DAEMON@mx.example.net\nSubject: Mail delivery failed\n\n"
           b"This message was created automatically by mail delivery software.\n\n"
           b"A message that you sent could not be delivered to one or more of its\nrecipients. "
           b"This is a permanent error. The following address(es) failed:\n\n  li.wei@example.edu\n"
           + b"<" * (1 << 20) + b"\n")
    copy = fallback_addresses.bounded_copy(parse_message(raw).headers)
    lines = [line for part in copy.walk() if isinstance(part._payload, str) for line in part._payload.split("\n")]  # type: ignore[attr-defined]
    assert lines and max(len(line) for line in lines) <= fallback_addresses.MAX_LINE_CHARS
    assert [r.address for r in fallback_addresses.recipients(parse_message(raw))] == ["li.wei@example.edu"]


def test_a_megabyte_long_dsn_address_field_is_read_up_to_the_cap(classifier, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """Found by the fuzz run: a Final-Recipient a megabyte long with no '@' (the address pattern is quadratic)."""
    import re
    import types

    from responsemaster.parse import fields

    searched: list[int] = []

    def search(pattern, string, *args, **kwargs):  # type: ignore[no-untyped-def]
        searched.append(len(string))
        assert len(string) <= fields.MAX_ADDRESS_FIELD_CHARS, f"address pattern run over {len(string):,} characters"
        return re.search(pattern, string, *args, **kwargs)

    monkeypatch.setattr(fields, "re", types.SimpleNamespace(search=search, compile=re.compile, I=re.I))
    raw = (HEAD + b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
           b"--b\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\n"
           b"Reporting-MTA: dns; mx.example.net\r\n\r\nFinal-Recipient: rfc822; " + b"a" * (1 << 20)
           + b"\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--b--\r\n")
    assert classifier.classify(raw).error is None
    assert searched
