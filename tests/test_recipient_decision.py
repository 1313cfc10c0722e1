"""Who decides a failed recipient (docs/bounces.md): a final rule, else the recipient model, within hard bounds.

The model here is a stand-in with a fixed answer: these tests are about the
policy around the model (what overrides it, what bounds it), which must hold
whatever a trained model says. The trained model itself is tested in
test_model.py, test_corrections.py and test_shipped_model.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from responsemaster.classify import recipient_decision
from responsemaster.classify.detection import Detection, recipient
from responsemaster.classify.model.recipient_model import RecipientDecision
from responsemaster.classify.rules import RuleError, RuleSet, load_rules_file

FINAL = '''
[[rule]]
id = "operator.acme-filter"
category = "mail_block"
reason = "filtered"
field = "diagnostic"
final = true
pattern = 'acme says no'
'''


class Saying:
    """A recipient model that always gives one answer, and records what it was shown."""

    def __init__(self, category: str, reason: str, confidence: float = 0.95) -> None:
        self.answer = RecipientDecision(category, reason, confidence, "rmodel:test")
        self.seen: list[str] = []

    def predict(self, evidence, hand_reason: str = "") -> RecipientDecision:  # noqa: ANN001
        self.seen.append(evidence.facts)
        return self.answer


def decide(model: Saying | None, rules: RuleSet, **fields: str):  # noqa: ANN201
    rcpt = recipient("ann@example.org", **fields)
    recipient_decision.decide(rules, model, rcpt, Detection(detector="rfc3464"), {})
    return rcpt


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    path = tmp_path_factory.mktemp("rules") / "operator.toml"
    path.write_text(FINAL, "utf-8")
    return RuleSet.load([path])


def test_a_final_rule_overrides_the_model(rules: RuleSet) -> None:
    model = Saying("hard_bounce", "userunknown")
    rcpt = decide(model, rules, diagnostic="550 5.1.1 acme says no: user unknown", status="5.1.1", command="RCPT")
    assert (rcpt.category, rcpt.reason, rcpt.decided_by, rcpt.confidence) == (
        "mail_block", "filtered", "rule:operator.acme-filter", 1.0)
    assert model.seen == []


def test_the_model_decides_and_reads_the_rules_as_evidence(rules: RuleSet) -> None:
    model = Saying("mail_block", "blocked")
    rcpt = decide(model, rules, diagnostic="550 5.1.1 <ann@example.org>: User unknown", status="5.1.1",
                  command="RCPT")
    assert (rcpt.category, rcpt.reason, rcpt.decided_by) == ("mail_block", "blocked", "rmodel:test")
    facts = model.seen[0].split()
    assert {"rule:diag.userunknown", "hand:userunknown", "st:5.1.1", "cmd:RCPT", "rc:none"} <= set(facts)


def test_a_temporary_failure_is_never_hard(rules: RuleSet) -> None:
    rcpt = decide(Saying("hard_bounce", "userunknown"), rules,
                  diagnostic="450 4.1.1 <ann@example.org>: Recipient address rejected: User unknown", status="4.1.1")
    assert (rcpt.category, rcpt.reason) == ("soft_bounce", "onhold") and rcpt.confidence <= 0.5


def test_a_hard_verdict_the_rules_do_not_share_waits_for_a_person(rules: RuleSet) -> None:
    rcpt = decide(Saying("hard_bounce", "userunknown", 0.97), rules, diagnostic="550 frobnicated", reply_code="550")
    assert rcpt.category == "hard_bounce" and rcpt.confidence <= 0.5  # below any prune threshold
    agreed = decide(Saying("hard_bounce", "userunknown", 0.97), rules,
                    diagnostic="550 5.1.1 <ann@example.org>: User unknown", status="5.1.1", command="RCPT")
    assert agreed.confidence == 0.97


def test_without_a_model_the_hand_written_reading_decides_with_its_own_confidence(rules: RuleSet) -> None:
    known = decide(None, rules, diagnostic="550 5.1.1 <ann@example.org>: User unknown", status="5.1.1",
                   command="RCPT")
    assert (known.reason, known.decided_by, known.confidence) == ("userunknown", "rule:diag.userunknown", 0.9)
    unknown = decide(None, rules, diagnostic="550 frobnicated", reply_code="550")
    assert (unknown.category, unknown.reason, unknown.confidence) == ("soft_bounce", "onhold", 0.5)


@pytest.mark.parametrize(("extra", "message"), [
    (FINAL.replace('field = "diagnostic"', 'field = "subject"'), "final only applies"),
    (FINAL.replace("final = true", 'final = "yes"'), "final must be true or false"),
])
def test_final_is_validated(tmp_path: Path, extra: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(extra, "utf-8")
    with pytest.raises(RuleError, match=message):
        load_rules_file(path)
