"""Hostile and broken input: mail is classified, noise is called noise, time and memory stay bounded.

Hostile but well-formed mail (deep MIME, broken charsets, backtracking bait,
huge headers) must come out classified *without an internal error*, and a
real bounce among it with its category; input that is not mail at all
(random bytes, text, a licence, JSON) must come out as ``not_mail`` with no
category. A classifier that raises fails these tests (the last test here
proves it by running them against a classifier patched to raise).

Bounds here are safety limits (a hang or a blow-up fails), not performance
assertions: they are ten or more times what a healthy run needs. Speed is
measured by benchmarks/classify_bench.py, never here.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import re
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from responsemaster.categories import BOUNCE_CATEGORIES, CATEGORIES
from responsemaster.classify.not_mail import not_mail_reason
from responsemaster.verdict import NOT_MAIL, UNPARSEABLE

REPO = Path(__file__).resolve().parent.parent
#: Seconds any single message may take, whatever it contains.
TIME_LIMIT = 5.0


def assert_classified(verdict) -> None:
    """Classified: one of the eleven categories and no error (an internal failure is not a result)."""
    assert verdict.error is None, f"not classified: {verdict.reason}: {verdict.error}"
    assert verdict.category in CATEGORIES, verdict
    assert 0.0 <= float(verdict.confidence) <= 1.0
    json.dumps(verdict.to_json("x"), ensure_ascii=False).encode("utf-8")  # the CLI can print it


def assert_not_mail(verdict) -> None:
    """Called noise: no category (never a guess), the ``not_mail`` kind and a reason in words."""
    assert (verdict.category, verdict.reason) == (None, NOT_MAIL), verdict
    assert verdict.error.startswith("not mail: "), verdict.error
    assert verdict.to_json("x")["category"] is None


def classify_bounded(classifier, raw: bytes, seconds: float = TIME_LIMIT, megabytes: float | None = None):
    """Classify ``raw`` in a forked child; fail if it raises, hangs, or (when asked) allocates too much.

    A child, because a runaway regular expression cannot be interrupted
    in-process: the parent kills it after ``seconds`` and the test fails
    instead of hanging the suite.
    """
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_classify_and_report, args=(classifier, raw, megabytes is not None, send))
    child.start()
    send.close()
    if not receive.poll(seconds):
        child.kill()
        child.join()
        pytest.fail(f"no result within {seconds}s (limit): unbounded time", pytrace=False)
    outcome = receive.recv()
    child.join()
    if "exception" in outcome:
        pytest.fail(f"classify raised: {outcome['exception']}", pytrace=False)
    assert outcome["elapsed"] < seconds
    if megabytes is not None:
        assert outcome["peak"] < megabytes * 1e6, f"peak {outcome['peak'] / 1e6:.0f} MB (limit {megabytes} MB)"
    return outcome["verdict"]


def _classify_and_report(classifier, raw: bytes, trace: bool, send) -> None:
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    try:
        verdict = classifier.classify(raw)
        outcome = {"verdict": verdict}
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which fails the test
        outcome = {"exception": f"{type(exc).__name__}: {exc}"}
    outcome["elapsed"] = time.perf_counter() - started
    outcome["peak"] = tracemalloc.get_traced_memory()[1] if trace else 0
    send.send(outcome)
    send.close()
    os._exit(0)


# --- hostile messages, built here -------------------------------------------------------------


def nested_mime(depth: int) -> bytes:
    head = b"From: a@example.org\r\nSubject: deep\r\nMIME-Version: 1.0\r\n"
    opens = b"".join(b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i) for i in range(depth))
    closes = b"".join(b"\r\n--b%d--\r\n" % i for i in reversed(range(depth)))
    return head + opens + b"Content-Type: text/plain\r\n\r\nhello\r\n" + closes


def dsn_with_diagnostic(diagnostic: bytes, sender: bytes = b"MAILER-DAEMON@mx.example.org",
                        subject: bytes = b"Delivery Status Notification (Failure)") -> bytes:
    return (
        b"From: " + sender + b"\r\nTo: list@example.com\r\nSubject: " + subject + b"\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain\r\n\r\n" + diagnostic + b"\r\n"
        b"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n"
        b"Final-Recipient: rfc822; user@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        b"Diagnostic-Code: smtp; 550 " + diagnostic + b"\r\n\r\n--B--\r\n"
    )


def text_bounce_with(line: bytes, sender: bytes, subject: bytes) -> bytes:
    return (b"From: " + sender + b"\r\nSubject: " + subject + b"\r\nTo: list@example.com\r\n\r\n"
            b"This is the mail system at host mx.example.org.\r\n\r\n" + line + b"\r\n" + line + b"\r\n")


def ten_megabytes() -> bytes:
    line = b"<user@example.org>: host mx.example.org said: 550 5.1.1 user unknown " + b"x" * 40 + b"\r\n"
    return (b"From: MAILER-DAEMON@mx.example.org\r\nSubject: Undelivered Mail Returned to Sender\r\n"
            b"Content-Type: text/plain\r\n\r\n" + line * (10_000_000 // len(line)))


#: Hostile but well-formed mail (a header block with a sender): each must be classified without an error.
HOSTILE: dict[str, Callable[[], bytes]] = {
    "only-headers": lambda: b"From: someone@example.org\r\nSubject: hello\r\nTo: list@example.com\r\n",
    "only-headers-no-newline": lambda: b"From: someone@example.org",
    "binary-garbage-with-header": lambda: b"From: a@example.org\r\nSubject: x\r\n\r\n" + random.Random(2).randbytes(200_000),
    "nul-in-headers": lambda: b"From: a\x00@example.org\r\nSub\x00ject: x\x00y\r\nTo: \x00\r\n\x00: \x00\r\n\r\nbody\x00",
    "mime-nested-1000": lambda: nested_mime(1000),
    "mime-nested-5000": lambda: nested_mime(5000),
    "unknown-charsets": lambda: (
        b'From: =?x-klingon?Q?Kor?= <a@example.org>\r\nSubject: =?x-foo-bar?B?////?= =?utf-8?Q?caf=E9?=\r\n'
        b'Content-Type: text/plain; charset="x-nonexistent-9"\r\n\r\ncaf\xe9 \xff\xfe\x80\r\n'),
    "lying-charset": lambda: b"From: a@example.org\r\nContent-Type: text/plain; charset=utf-16\r\n\r\n\xff\xd8\x00",
    "broken-base64": lambda: (
        b"From: a@example.org\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n"
        b"\r\nSGVsbG8gd29y!!!bGQ=\r\n===\r\nQQ\r\n"),
    "broken-quoted-printable": lambda: (
        b"From: a@example.org\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=ZZ=\r\n=E9=\r\n=" * 100),
    "missing-boundary": lambda: (
        b'From: a@example.org\r\nContent-Type: multipart/mixed; boundary="nope"\r\n\r\n--other\r\n\r\ntext\r\n'),
    "no-boundary-parameter": lambda: b"From: a@example.org\r\nContent-Type: multipart/report\r\n\r\n--x\r\nhi\r\n",
    "delivery-status-garbage": lambda: (
        b'From: MAILER-DAEMON@x.org\r\nContent-Type: multipart/report; boundary="B"\r\n\r\n--B\r\n'
        b"Content-Type: message/delivery-status\r\n\r\n" + b":::\r\n\r\n;;;\r\n" * 5000 + b"\r\n--B--\r\n"),
    "huge-header-line": lambda: b"Subject: " + b"=?utf-8?q?a?= " * 400_000 + b"\r\nFrom: " + b"<" * 1_000_000 + b"\r\n\r\nhi",
    "many-headers": lambda: b"From: a@example.org\r\n" + b"X-H: v\r\n" * 200_000 + b"\r\nbody",
    "many-recipients": lambda: dsn_with_diagnostic(b"x").replace(
        b"Final-Recipient: rfc822; user@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n",
        b"Final-Recipient: rfc822; u@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n" * 20_000),
    "many-parts": lambda: b'From: a@example.org\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
    + b"--b\r\nContent-Type: text/plain\r\n\r\npart\r\n" * 50_000 + b"--b--\r\n",
    "nested-rfc822": lambda: b"From: a@example.org\r\n" + (b"Content-Type: message/rfc822\r\n\r\n" * 2000)
    + b"Subject: inner\r\n\r\nhi",
}
#: The hostile inputs that are real bounces, and the category the standards give them
#: (RFC 3464 Action: failed with RFC 3463 status 5.1.1, a bad mailbox; no words contradict it).
BOUNCES = {"many-recipients": ("hard_bounce", "u@example.org")}

#: Input that is not mail: no header block, or no sender. Never a category, never a reply.
NOISE: dict[str, Callable[[], bytes]] = {
    "empty": lambda: b"",
    "blank-lines": lambda: b"\n" * 20,
    "random-bytes": lambda: random.Random(1).randbytes(200_000),
    "nul-everywhere": lambda: b"\x00" * 100_000,
    "plain-text": lambda: b"hello\n",
    "licence": lambda: (b"Example Licence\n\nCopyright 2026 the authors of this fixture.\n\nUse, copy and change this"
                        b" text as you like; it comes with no warranty: none at all.\n"),
    "readme": lambda: (REPO / "README.md").read_bytes(),
    "pyproject": lambda: (REPO / "pyproject.toml").read_bytes(),
    "json": lambda: json.dumps({"from": "a@example.org", "subject": "hi", "to": ["b@example.org"]}).encode(),
    "json-lines": lambda: b'{"From": "a@example.org"}\n{"From": "b@example.org"}\n',
    "csv": lambda: b"email,name\njane@example.org,Jane\n",
    "headers-without-sender": lambda: b"Subject: hello\r\nX-Note: no one sent this\r\n\r\nbody\r\n",
}

#: Lines built to make a backtracking regular expression explode (catastrophic
#: or polynomial backtracking): long runs with the final character wrong.
REDOS_LINES: dict[str, bytes] = {
    "a-then-bang": b"a" * 50_000 + b"!",
    "spaces-then-x": b" " * 50_000 + b"x",
    "tabs-and-spaces": b" \t" * 25_000 + b"!",
    "dashes": b"-" * 50_000,
    "at-signs": b"a@" * 25_000 + b"!",
    "angle-at": b"<a@" * 15_000,
    "dot-runs": b"a." * 25_000 + b"@",
    "words-then-bang": b"user unknown " * 4_000 + b"!",
    "nested-repetition-bait": b"(a+)+" * 10_000 + b"a" * 10_000 + b"!",
    "wrote-bait": b"on " * 15_000 + b"x",
    "colons": b": " * 25_000,
    "lt-run": b"<" * 50_000 + b"a@b",
    "mailto": b"a@b <mailto:" * 5_000,
    "ellipsis": b"a@b..." * 8_000,
}
#: Who a text bounce claims to come from, so that the MTA-specific detectors run too.
BOUNCE_ENVELOPES = (
    (b"MAILER-DAEMON@mx.example.org", b"Undelivered Mail Returned to Sender"),
    (b"MAILER-DAEMON@mx.example.org", b"failure notice"),
    (b"Mail Delivery Subsystem <MAILER-DAEMON@mx.example.org>", b"Returned mail: see transcript for details"),
    (b"Mail Delivery System <Mailer-Daemon@mx.example.org>", b"Mail delivery failed: returning message to sender"),
    (b"postmaster@example.org", b"Undeliverable: hello"),
    (b"someone@example.org", b"Re: hello"),
)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_mail_is_classified(classifier, name: str) -> None:
    verdict = classify_bounded(classifier, HOSTILE[name]())
    assert_classified(verdict)
    if name in BOUNCES:
        category, address = BOUNCES[name]
        assert (verdict.category, verdict.recipients[0].address) == (category, address)


@pytest.mark.parametrize("name", sorted(NOISE))
def test_noise_is_not_mail(classifier, name: str) -> None:
    assert_not_mail(classify_bounded(classifier, NOISE[name]()))


def test_ten_megabyte_message_is_bounded(classifier) -> None:
    verdict = classify_bounded(classifier, ten_megabytes(), seconds=TIME_LIMIT, megabytes=200)
    assert_classified(verdict)
    assert (verdict.category, verdict.recipients[0].address) == ("hard_bounce", "user@example.org")  # 550 5.1.1 user unknown


@pytest.mark.parametrize("name", sorted(REDOS_LINES))
def test_backtracking_bait_in_a_dsn(classifier, name: str) -> None:
    verdict = classify_bounded(classifier, dsn_with_diagnostic(REDOS_LINES[name]))
    assert_classified(verdict)
    # Action: failed, Status: 5.1.1 and a diagnostic that says nothing else: a bad mailbox (RFC 3463).
    assert (verdict.category, verdict.recipients[0].address) == ("hard_bounce", "user@example.org")


@pytest.mark.parametrize("envelope", range(len(BOUNCE_ENVELOPES)))
@pytest.mark.parametrize("name", sorted(REDOS_LINES))
def test_backtracking_bait_in_text_bounces(classifier, name: str, envelope: int) -> None:
    sender, subject = BOUNCE_ENVELOPES[envelope]
    assert_classified(classify_bounded(classifier, text_bounce_with(REDOS_LINES[name], sender, subject)))


def test_truncated_corpus_messages(classifier, sample_messages: list[bytes]) -> None:
    """Real messages cut at many points (inside headers, boundaries, base64, DSN fields).

    Cut inside the header block before any sender or trace field, a message is
    not mail any more (``not_mail``); cut anywhere after that it is classified,
    without an error.
    """
    for raw in sample_messages:
        cuts = sorted({1, 10, 100, len(raw) // 3, len(raw) // 2, len(raw) - 1, *range(0, len(raw), max(1, len(raw) // 12))})
        for cut in cuts:  # in-process: real prefixes are cheap, and a fork per cut is not
            started = time.perf_counter()
            verdict = classifier.classify(raw[:cut])
            assert time.perf_counter() - started < TIME_LIMIT
            if verdict.reason == NOT_MAIL and not re.search(rb"\n\r?\n", raw[:cut]):
                assert_not_mail(verdict)  # the header block was cut before a sender
            else:
                assert_classified(verdict)


def test_every_message_of_the_corpus_and_training_data_is_mail(corpus: Path) -> None:
    """The not-mail check rejects none of the real mail here, and every other file beside it."""
    messages = sorted(corpus.rglob("*.eml")) + sorted((REPO / "training_data").rglob("*.eml"))
    others = [p for p in corpus.rglob("*") if p.is_file() and p.suffix != ".eml"]  # READMEs, licences, labels
    rejected = [(str(p), why) for p in messages if (why := not_mail_reason(p.read_bytes())) is not None]
    assert len(messages) > 1000 and rejected == []
    accepted = [str(p) for p in others if not_mail_reason(p.read_bytes()) is None]
    assert len(others) >= 10 and accepted == []


# --- property test ------------------------------------------------------------------------------


def _mutate(raw: bytes, ops: list[tuple[str, int, int]]) -> bytes:
    data = bytearray(raw)
    for op, a, b in ops:
        n = len(data)
        if n == 0:
            break
        i = a % n
        if op == "flip":
            data[i] ^= 1 << (b % 8)
        elif op == "truncate":
            del data[i:]
        elif op == "nul":
            data[i:i] = b"\x00" * (1 + b % 4)
        elif op in ("dup-line", "drop-line"):
            lines = bytes(data).split(b"\n")
            j = a % len(lines)
            lines[j:j + 1] = [lines[j], lines[j]] if op == "dup-line" else []
            data = bytearray(b"\n".join(lines))
        elif op == "swap-boundary":
            lines = bytes(data).split(b"\n")
            marks = [k for k, line in enumerate(lines) if line.startswith(b"--")]
            if len(marks) >= 2:
                x, y = marks[a % len(marks)], marks[b % len(marks)]
                lines[x], lines[y] = lines[y], lines[x]
            data = bytearray(b"\n".join(lines))
        elif op == "bytes":
            data[i:i] = bytes([b % 256]) * (1 + a % 64)
    return bytes(data)


_OPS = st.lists(
    st.tuples(st.sampled_from(["flip", "truncate", "nul", "dup-line", "drop-line", "swap-boundary", "bytes"]),
              st.integers(0, 1 << 20), st.integers(0, 1 << 20)),
    min_size=1, max_size=8,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pick=st.integers(0, 10_000), ops=_OPS)
def test_mutated_corpus_messages_never_fail_the_classifier(classifier, sample_messages: list[bytes], pick: int, ops) -> None:
    """A mutant is classified, or (mutated out of its header block or sender) called not mail or unparseable."""
    raw = _mutate(sample_messages[pick % len(sample_messages)], ops)
    verdict = classifier.classify(raw)
    if verdict.error is not None and verdict.reason in (NOT_MAIL, UNPARSEABLE):
        assert verdict.category is None and (verdict.reason != NOT_MAIL or not_mail_reason(raw))
    else:
        assert_classified(verdict)


# --- through the command line -------------------------------------------------------------------


def _classify_cli(*paths: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "responsemaster", "classify", "--jsonl", "--no-model", *map(str, paths)],
        capture_output=True, timeout=120, env={**os.environ, "PYTHONIOENCODING": "utf-8"}, check=False,
    )


def test_cli_gives_one_line_per_hostile_input_in_order(tmp_path: Path) -> None:
    mail = ["nul-in-headers", "mime-nested-1000", "unknown-charsets", "broken-base64", "only-headers", "huge-header-line"]
    noise = ["empty", "random-bytes", "plain-text", "licence", "json"]
    paths, expected = [], []
    for number, (name, make) in enumerate([(n, HOSTILE[n]) for n in mail] + [(n, NOISE[n]) for n in noise]):
        path = tmp_path / f"{number:02d}-{name}.eml"
        path.write_bytes(make())
        paths.append(path)
        expected.append("mail" if name in HOSTILE else "noise")
    bait = tmp_path / "99-redos.eml"
    bait.write_bytes(dsn_with_diagnostic(REDOS_LINES["spaces-then-x"]))
    paths.append(bait)
    expected.append("hard_bounce")
    paths.insert(3, tmp_path / "does-not-exist.eml")
    expected.insert(3, "missing")
    proc = _classify_cli(*paths)
    stderr = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 2, stderr[-2000:]  # a given path does not exist: 2, after every other line
    assert "Traceback" not in stderr and f"no such file or directory: {paths[3]}" in stderr
    rows = [json.loads(line) for line in proc.stdout.decode("utf-8").splitlines()]
    assert [row["file"] for row in rows] == [str(p) for p in paths]
    for row, kind in zip(rows, expected):
        if kind in ("noise", "missing"):  # a failure line never carries a category
            assert row["category"] is None and row["error"], row
            assert row["reason"] == ("not_mail" if kind == "noise" else "unreadable"), row
        else:
            assert "error" not in row and row["category"] in CATEGORIES, row
            assert kind == "mail" or row["category"] == kind


def test_cli_skips_files_in_a_folder_that_are_not_mail(tmp_path: Path) -> None:
    folder = tmp_path / "returns"
    folder.mkdir()
    (folder / "a-bounce.eml").write_bytes(dsn_with_diagnostic(b"user unknown"))
    (folder / "b-reply.eml").write_bytes(HOSTILE["only-headers"]())
    for name in ("LICENSE", "README.md", "labels.jsonl", "notes.txt"):
        (folder / name).write_bytes(NOISE[{"LICENSE": "licence", "README.md": "readme", "labels.jsonl": "json-lines",
                                           "notes.txt": "plain-text"}[name]]())
    proc = _classify_cli(folder)
    stderr = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 0, stderr[-2000:]
    rows = [json.loads(line) for line in proc.stdout.decode("utf-8").splitlines()]
    assert [Path(row["file"]).name for row in rows] == ["a-bounce.eml", "b-reply.eml"]
    assert rows[0]["category"] in BOUNCE_CATEGORIES and rows[1]["category"] in CATEGORIES
    skipped = sorted(re.findall(r"^skipped (\S+): not mail: ", stderr, re.M))
    assert skipped == sorted(str(folder / n) for n in ("LICENSE", "README.md", "labels.jsonl", "notes.txt")), stderr


# --- the tests above fail when the classifier does -----------------------------------------------

_RAISE_PLUGIN = """
from responsemaster.classify.pipeline import Classifier

def _broken(self, raw):
    raise RuntimeError("injected fault: the classifier is broken")

Classifier._classify = _broken
"""


def test_a_classifier_that_raises_fails_these_tests(tmp_path: Path) -> None:
    """Mutation check: with ``Classifier._classify`` patched to raise, the hostile-mail tests fail, every one.

    (Before failure verdicts existed, a crash became a ``user_reply`` with
    ``error`` set and all of them passed.) The noise tests still pass: noise
    is rejected before the classifier runs.
    """
    (tmp_path / "rm_raise_in_classify.py").write_text(_RAISE_PLUGIN)
    selected = "test_hostile_mail_is_classified or test_backtracking_bait_in_a_dsn or test_noise_is_not_mail"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "rm_raise_in_classify",
         f"{Path(__file__)}", "-k", selected],
        capture_output=True, text=True, timeout=300, cwd=REPO, env=env, check=False,
    )
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-2000:]
    expected_failures = len(HOSTILE) + len(REDOS_LINES)
    assert proc.returncode == 1, summary
    assert re.search(rf"\b{expected_failures} failed, {len(NOISE)} passed\b", summary), summary
    assert "classifier_error: classifier failed: RuntimeError: injected fault" in proc.stdout
