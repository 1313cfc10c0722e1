"""How well each rule is supported by labelled mail: ``responsemaster rules stats``.

A rule is evidence only as far as labelled messages back it. For every rule
this counts, over the labelled data (``training_data/``: the corpus, the
extra real mail, corrections; generated bounces only on request):

- **hits**: the messages (message rules) or labelled recipients (diagnostic
  rules, read with the same detectors and context the pipeline uses) its
  pattern matches;
- **sources**: how many distinct origins those hits come from (projects, MTA
  families, providers: :func:`~responsemaster.classify.model.dataset.origin`);
- **precision**: the share of hits whose label agrees with the rule: the
  category for every hit, and the reason where the label names one.

A rule that only one message supports (one agreeing hit, or hits from a
single message) is flagged: it was probably written against that message
and says little about mail nobody here has seen.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from responsemaster.classify.fields import message_fields
from responsemaster.classify.model.dataset import Example
from responsemaster.classify.rules import Rule, RuleSet
from responsemaster.parse.message import parse_message

DIAGNOSTIC = "diagnostic"


@dataclass
class RuleStats:
    rule: Rule
    hits: int = 0
    category_ok: int = 0
    reason_hits: int = 0
    reason_ok: int = 0
    messages: set[str] = field(default_factory=set)
    supporting: set[str] = field(default_factory=set)
    sources: set[str] = field(default_factory=set)

    @property
    def precision(self) -> float | None:
        return self.category_ok / self.hits if self.hits else None

    @property
    def reason_precision(self) -> float | None:
        return self.reason_ok / self.reason_hits if self.reason_hits else None

    @property
    def single_message(self) -> bool:
        """Supported by one message only (or matching one message only)."""
        return self.hits > 0 and (len(self.supporting) <= 1 or len(self.messages) == 1)

    def add(self, message: str, origin: str, category_ok: bool, reason_ok: bool | None) -> None:
        self.hits += 1
        self.messages.add(message)
        self.sources.add(origin)
        self.category_ok += category_ok
        if category_ok:
            self.supporting.add(message)
        if reason_ok is not None:
            self.reason_hits += 1
            self.reason_ok += reason_ok


def rule_stats(rules: RuleSet, examples: Sequence[Example]) -> list[RuleStats]:
    """Stats for every rule of ``rules``, in file order, over ``examples``."""
    from responsemaster.classify.model.recipient_training import recipient_examples
    from responsemaster.classify.pipeline import Classifier

    stats = {rule.id: RuleStats(rule) for rule in rules.rules}
    message_rules = [r for r in rules.rules if r.field != DIAGNOSTIC]
    for example in examples:
        msg = parse_message(example.read())
        if msg.error:
            continue
        fields = message_fields(msg, (r.field for r in message_rules if r.field.startswith("header:")))
        for rule in _matching(rules, message_rules, fields):
            stats[rule.id].add(example.path.name, example.origin, rule.category == example.category, None)
    reader = Classifier(rules=rules)
    for labelled in recipient_examples(examples, reader):
        for rule_id in _rule_ids(labelled.evidence.facts):
            rule_stat = stats.get(rule_id)
            if rule_stat is None:
                continue
            reason_ok = rule_stat.rule.reason == labelled.reason if labelled.reason else None
            rule_stat.add(labelled.file, labelled.origin, rule_stat.rule.category == labelled.category, reason_ok)
    return [stats[rule.id] for rule in rules.rules]


def _matching(rules: RuleSet, message_rules: Iterable[Rule], fields: dict[str, str]) -> list[Rule]:
    wanted = {r.id for r in message_rules}
    found = []
    for name in {r.field for r in message_rules}:
        found += [hit.rule for hit in rules.matches(name, fields.get(name, "")) if hit.rule.id in wanted]
    return found


def _rule_ids(facts: str) -> list[str]:
    return [token[5:] for token in facts.split() if token.startswith("rule:") and token != "rule:none"]


def summary(stats: Sequence[RuleStats]) -> dict[str, int]:
    return {
        "rules": len(stats),
        "never_hit": sum(1 for s in stats if not s.hits),
        "single_message": sum(1 for s in stats if s.single_message),
        "several_sources": sum(1 for s in stats if len(s.sources) > 1),
    }
