"""Rules as data: the shipped file is valid, and `rules check` names the line of every mistake."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from responsemaster.classify.rules import DEFAULT_RULES, RuleError, RuleSet, load_rules_file

GOOD = '''
[[rule]]
id = "a"
category = "hard_bounce"
reason = "userunknown"
field = "diagnostic"
pattern = 'no such user'
'''


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_rules_load() -> None:
    rules = load_rules_file(DEFAULT_RULES)
    assert len({r.id for r in rules}) == len(rules)
    assert any(r.field == "diagnostic" for r in rules)


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        (GOOD + GOOD.replace('id = "a"', 'id = "b"').replace("'no such user'", "'(unclosed'"), "bad pattern", 10),
        (GOOD.replace('"hard_bounce"', '"not_a_category"'), "unknown category 'not_a_category'", 3),
        (GOOD + GOOD, "duplicate rule id 'a' (first defined at line 3)", 10),
        (GOOD.replace('"userunknown"', '"blocked"'), "belongs to mail_block", 3),
        (GOOD.replace('"diagnostic"', '"nowhere"'), "unknown field 'nowhere'", 3),
    ],
    ids=["bad pattern", "unknown category", "duplicate id", "reason of another category", "unknown field"],
)
def test_check_names_the_line(tmp_path: Path, text: str, message: str, line: int) -> None:
    path = write(tmp_path, text)
    with pytest.raises(RuleError) as error:
        load_rules_file(path)
    assert message in str(error.value)
    assert f"{path}:{line}:" in str(error.value)


def _best_cpu_seconds(rules: RuleSet, n: int, repeat: int = 5) -> float:
    """The least CPU time (of ``repeat`` runs) to match ``(a+)+$`` against n a's and a bang."""
    text = "a" * n + "!"
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        assert rules.match_field("diagnostic", text) is None
        best = min(best, time.process_time() - started)
    return best


def _cpu_ratio(rules: RuleSet, send) -> None:  # type: ignore[no-untyped-def]
    small, large = _best_cpu_seconds(rules, 400_000), _best_cpu_seconds(rules, 3_200_000)
    send.send((small, large))
    send.close()
    os._exit(0)


def test_backtracking_pattern_is_linear(tmp_path: Path) -> None:
    """8x the input costs about 8x the CPU time, not 64x (quadratic) or forever (backtracking).

    The bound is on the ratio of CPU times (load on the machine slows both
    alike), and generous: 3x what linear matching needs, a third of what a
    quadratic matcher would. A matcher that backtracks never answers: the
    measurement runs in a child killed after 60 s.
    """
    rules = RuleSet(load_rules_file(write(tmp_path, GOOD.replace("'no such user'", "'(a+)+$'"))))
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_cpu_ratio, args=(rules, send))
    child.start()
    send.close()
    answered = receive.poll(60)
    if not answered:
        child.kill()
    child.join()
    assert answered, "no answer within 60 s: the pattern backtracks"
    small, large = receive.recv()
    assert large < 24 * max(small, 1e-4), f"{small * 1e3:.2f} ms for 400k characters, {large * 1e3:.2f} ms for 3.2M"


def test_cli_rules_check(tmp_path: Path) -> None:
    ok = subprocess.run([sys.executable, "-m", "responsemaster", "rules", "check", str(DEFAULT_RULES)],
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    bad = write(tmp_path, GOOD.replace('"hard_bounce"', '"nope"'))
    failed = subprocess.run([sys.executable, "-m", "responsemaster", "rules", "check", str(bad)],
                            capture_output=True, text=True, timeout=60)
    assert failed.returncode != 0
    assert f"{bad}:3:" in failed.stdout + failed.stderr


PROVIDER = '''
[[rule]]
id = "p"
category = "mail_block"
reason = "blocked"
field = "diagnostic"
remote_mta = '(?:^|\\.)example\\.net$'
command = ["RCPT", "data"]
pattern = 'AUP#X1'
'''


def test_remote_mta_and_command_keys(tmp_path: Path) -> None:
    from responsemaster.classify.rules import MatchContext

    rules = RuleSet(load_rules_file(write(tmp_path, PROVIDER)))
    (rule,) = rules.rules
    assert rule.command == ("RCPT", "DATA")
    text = "554 AUP#X1 go away"
    assert rules.match_field("diagnostic", text) is None  # no context: a keyed rule never fires
    assert rules.match_field("diagnostic", text, context=MatchContext(("mx.example.net", ""), "RCPT")) is not None
    # The recipient's domain counts as a host when the remote MTA is unknown.
    assert rules.match_field("diagnostic", text, context=MatchContext(("", "example.net"), "DATA")) is not None
    assert rules.match_field("diagnostic", text, context=MatchContext(("mx.example.org", "example.org"), "RCPT")) is None
    assert rules.match_field("diagnostic", text, context=MatchContext(("mx.example.net", ""), "MAIL")) is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("command = [\"RCPT\", \"data\"]", 'command = "QUIT"'), "unknown command 'QUIT'"),
        (("command = [\"RCPT\", \"data\"]", "command = 5"), "command must be a string or a list"),
        (("remote_mta = '", "remote_mta = '(unclosed"), "bad pattern"),
        (('field = "diagnostic"', 'field = "subject"'), "only apply to field"),
    ],
    ids=["unknown command", "command type", "bad remote_mta", "keys need diagnostic"],
)
def test_provider_keys_are_validated(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    text = PROVIDER.replace(*change)
    assert text != PROVIDER
    with pytest.raises(RuleError) as error:
        load_rules_file(write(tmp_path, text))
    assert message in str(error.value)
    assert f"{tmp_path / 'rules.toml'}:3:" in str(error.value)


WHOLE_REPLY = '''
[[rule]]
id = "bare.blocked"
category = "mail_block"
reason = "blocked"
field = "diagnostic"
pattern = '^\\W*\\d{3}\\W+blocked\\W*$'
'''


@pytest.mark.parametrize("diagnostic", [
    "550 Blocked",
    "host mx.example.biz [192.0.2.25] SMTP error from remote mail server after RCPT TO:<ann@example.biz>: 550 Blocked",
    "<ann@example.biz>: host mx.example.biz[192.0.2.25] said: 550 Blocked",
])
def test_a_rule_for_a_whole_reply_reads_it_inside_a_relays_narration(tmp_path: Path, diagnostic: str) -> None:
    """The same server reply is the same evidence whether Postfix, Exim or the server itself wrote it down."""
    rules = RuleSet(load_rules_file(write(tmp_path, WHOLE_REPLY)))
    assert [hit.rule.id for hit in rules.matches("diagnostic", diagnostic)] == ["bare.blocked"]


def test_narration_alone_is_no_reply(tmp_path: Path) -> None:
    rules = RuleSet(load_rules_file(write(tmp_path, WHOLE_REPLY)))
    assert list(rules.matches("diagnostic", "host mx.example.biz: Blocked")) == []
    assert list(rules.matches("diagnostic", "550 Blocked because of a policy")) == []


def test_no_shipped_rule_repeats_a_pattern_a_counted_many_times() -> None:
    """RE2 copies ``x{0,100}`` a hundred times; in the one automaton of all rules that made every
    diagnostic match fall back to RE2's slow path (whole-process classify 60% slower). ``.*`` is linear."""
    import re

    counted = re.compile(r"\{(\d*),(\d+)\}")
    big = [(rule.id, m.group(0)) for rule in load_rules_file(DEFAULT_RULES) for m in counted.finditer(rule.pattern)
           if int(m.group(2)) > 80]
    assert big == []


class CountingMatcher:
    """Counts the scans of one field's rules (the real RE2 filter or set answers)."""

    def __init__(self, real: object) -> None:
        self.real, self.scanned = real, []

    def Match(self, data: bytes) -> list[int]:  # noqa: N802 - the re2.Filter / re2.Set method it stands for
        self.scanned.append(data)
        return self.real.Match(data)  # type: ignore[attr-defined]


def test_a_diagnostic_read_three_times_in_a_row_is_scanned_once() -> None:
    """The hand-written reasons, the final rules and the model's evidence each read a recipient's
    diagnostic: one scan of the rules answers all three, and another text is scanned anew."""
    rules, fresh = RuleSet.load(), RuleSet.load()
    group = rules._by_field["diagnostic"]
    group._matcher = counting = CountingMatcher(group._matcher)
    text = "550 5.1.1 <jo@example.org>: Recipient address rejected: User unknown in local recipient table"
    answers = [[hit.rule.id for hit in ruleset.matches("diagnostic", text, "5")] for ruleset in (rules, rules, fresh)]
    assert answers[0] == answers[1] == answers[2] and answers[0]
    assert len(counting.scanned) == 1
    assert [hit.rule.id for hit in rules.matches("diagnostic", "452 4.2.2 Mailbox full", "4")] == [
        hit.rule.id for hit in fresh.matches("diagnostic", "452 4.2.2 Mailbox full", "4")]
    assert len(counting.scanned) == 2
    relayed = "Remote host said: 550 5.1.1 <jo@example.org>: Recipient address rejected: User unknown"
    for _ in range(3):  # the narration and the reply quoted in it: two texts, each scanned once
        assert [hit.rule.id for hit in rules.matches("diagnostic", relayed, "5")] == [
            hit.rule.id for hit in fresh.matches("diagnostic", relayed, "5")]
    assert len(counting.scanned) == 4


def _rule_by_rule(group: object, text: str) -> tuple[str, ...]:
    return tuple(rule.id for _, rule in group.entries if rule.search(text))  # type: ignore[attr-defined]


def test_the_filter_finds_what_a_search_rule_by_rule_finds_on_every_corpus_line(corpus_files: list[Path]) -> None:
    """RE2's filter (many rules) runs only the patterns whose literal pieces occur in a text, one automaton
    (few rules) runs them all: either must find exactly the rules a search of each pattern finds, on every
    line of real mail, in any case, for every field."""
    rules = RuleSet.load()
    lines = {line.strip() for path in corpus_files
             for line in path.read_bytes().decode("utf-8", "surrogateescape").splitlines() if line.strip()}
    texts = sorted(lines)
    texts += [text.upper() for text in texts[::7]] + [" ".join(texts[n:n + 5]) for n in range(0, len(texts), 5)]
    matched = 0
    for group in rules._by_field.values():
        for text in texts:
            found = tuple(rule.id for _, rule in group.matching(text))
            assert found == _rule_by_rule(group, text), text
            matched += bool(found)
    assert matched > 500  # the lines hold plenty of what the rules look for
    kinds = {type(group._matcher).__name__ for group in rules._by_field.values()}
    assert kinds == {"Filter", "Set"}  # both kinds of matcher were held to it


_RULE_WORDS = sorted({word for rule in load_rules_file(DEFAULT_RULES)
                      for word in "".join(c if c.isalnum() else " " for c in rule.pattern).split() if len(word) > 2})


@settings(max_examples=2000, deadline=None)
@given(pieces=st.lists(st.one_of(st.sampled_from(_RULE_WORDS), st.sampled_from([" ", "  ", ".", "-", "550", "5.1.1", "<a@b.c>",
                                                                               "É", "ü", "日本", "\udcff", "\n"])),
                       max_size=12))
def test_the_filter_finds_what_a_search_rule_by_rule_finds_on_made_up_texts(pieces: list[str]) -> None:
    text = "".join(pieces)
    for group in _RULES._by_field.values():
        assert tuple(rule.id for _, rule in group.matching(text)) == _rule_by_rule(group, text)


_RULES = RuleSet.load()
