"""Rules as data: the shipped file is valid, and `rules check` names the line of every mistake."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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


def test_backtracking_pattern_is_linear(tmp_path: Path) -> None:
    rules = RuleSet(load_rules_file(write(tmp_path, GOOD.replace("'no such user'", "'(a+)+$'"))))
    assert rules.match_field("diagnostic", "a" * 50_000 + "!") is None


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
