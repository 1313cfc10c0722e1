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


def test_a_missing_mailbox_whose_stage_is_not_stated_waits_for_a_person(rules: RuleSet) -> None:
    """docs/bounces.md: "user unknown" said to DATA is a filter, so an SMTP refusal of unknown stage is unsure."""
    unstaged = decide(Saying("hard_bounce", "userunknown", 0.97), rules,
                      diagnostic="550 5.1.1 <ann@example.org>: User unknown", status="5.1.1", reply_code="550")
    assert (unstaged.category, unstaged.reason) == ("hard_bounce", "userunknown") and unstaged.confidence <= 0.5
    staged = decide(Saying("hard_bounce", "userunknown", 0.97), rules, command="RCPT",
                    diagnostic="550 5.1.1 <ann@example.org>: User unknown", status="5.1.1", reply_code="550")
    assert staged.confidence == 0.97
    # A directory's own report, not an SMTP reply, names the missing mailbox whatever the stage.
    directory = decide(None, rules, diagnostic="User ann (ann@example.org) not listed in Domino Directory")
    assert (directory.reason, directory.confidence) == ("userunknown", 0.9)


def test_a_status_made_up_from_a_reply_code_is_as_sure_as_the_code(rules: RuleSet) -> None:
    """Sendmail's "Status: 5.1.1" over "550 Denied by policy" is Sendmail's, not the server's."""
    words = decide(None, rules, diagnostic="550 Denied by policy", status="5.1.1", reply_code="550", command="RCPT")
    assert words.category != "hard_bounce"
    bare = decide(Saying("hard_bounce", "userunknown", 0.97), rules, diagnostic="550 recipient rejected",
                  status="5.1.1", reply_code="550", command="RCPT")
    assert bare.category == "hard_bounce" and bare.confidence <= 0.5


def test_an_unsure_model_gives_way_to_a_rule_that_read_the_words(rules: RuleSet) -> None:
    """Held out by origin, an unsure model is mostly wrong where a diagnostic rule reads another category."""
    words = dict(diagnostic="554 5.7.1 Mailbox is inactive or the account has been blocked by the administrator",
                 status="5.7.1", command="RCPT")
    unsure = decide(Saying("hard_bounce", "userunknown", 0.55), rules, **words)
    assert (unsure.category, unsure.reason, unsure.decided_by) == ("soft_bounce", "suspend", "rule:diag.suspend")
    sure = decide(Saying("hard_bounce", "userunknown", 0.9), rules, **words)
    assert (sure.reason, sure.decided_by) == ("userunknown", "rmodel:test")
    same_category = decide(Saying("soft_bounce", "onhold", 0.55), rules, **words)
    assert (same_category.reason, same_category.decided_by) == ("onhold", "rmodel:test")


def test_a_remembered_correction_stands_however_unsure(rules: RuleSet) -> None:
    model = Saying("hard_bounce", "userunknown", 0.55)
    model.answer = RecipientDecision("hard_bounce", "userunknown", 0.55, "rmodel:test" + recipient_decision.CORRECTED)
    rcpt = decide(model, rules, diagnostic="554 5.7.1 Mailbox is inactive", status="5.7.1", command="RCPT")
    assert (rcpt.reason, rcpt.decided_by) == ("userunknown", "rmodel:test:correction")


def test_nothing_understood_never_outweighs_the_model(rules: RuleSet) -> None:
    rcpt = decide(Saying("mail_block", "blocked", 0.4), rules, diagnostic="550 frobnicated", reply_code="550")
    assert (rcpt.reason, rcpt.decided_by) == ("blocked", "rmodel:test")
