"""Rules as data: TOML files an operator can edit without a code change.

A rule names the field it reads, a pattern, and the category and reason it
gives. Patterns are compiled with RE2, whose matching time is linear in the
input, so a hostile diagnostic line cannot make matching explode. Rules are
tried in file order and the first match wins, so order is policy: put the
specific rule before the general one. Files given later override rules of the
same id from earlier files (the operator's file on top of the shipped one).

Two optional keys narrow a ``diagnostic`` rule to the context a provider's
wording only means something in:

``remote_mta``
    An RE2 pattern matched against the remote MTA that answered and against
    the recipient's domain (whichever is known). Providers publish their own
    rejection codes (``AUP#CXBL``, ``LPN007_102``, ``IB104``); a rule keyed by
    the provider's host reads them without mistaking them elsewhere.
``command``
    The SMTP command(s) the refusal answered (``CONN``, ``HELO``, ``EHLO``,
    ``MAIL``, ``RCPT``, ``DATA``): a string or a list. The same words mean
    different things before and after DATA ("unknown user" to RCPT is a
    missing mailbox; to DATA it is the recipient's filter).

A rule with either key is skipped when the recipient's context is unknown or
does not match.

With a trained recipient model, ``diagnostic`` rules are evidence: every rule
that matches is one of the model's features, and the model decides. A rule
with ``final = true`` is an explicit override instead: when it matches, its
reason is the recipient's verdict and ``decided_by`` names the rule.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import re2

from responsemaster.categories import CATEGORIES, REASON_TO_CATEGORY
from responsemaster.classify.smtp_text import quoted_reply
from responsemaster.parse import linear

DEFAULT_RULES = Path(__file__).with_name("rules") / "default.toml"

#: Message fields a rule may read; ``header:<Name>`` reads any header.
FIELDS = ("subject", "diagnostic", "reply_text", "body", "from", "original_subject")
#: SMTP stages a rule's ``command`` may name.
COMMANDS = ("CONN", "HELO", "EHLO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA")
_KEYS = {"id", "category", "reason", "field", "pattern", "description", "status_class", "remote_mta", "command",
         "final"}

_OPTIONS = re2.Options()
_OPTIONS.case_sensitive = False
_OPTIONS.log_errors = False
#: RE2's memory budget per compiled pattern; its lazy DFA gets about two thirds of it. With 1 MB
#: some rules' automata outgrew their DFA cache on real diagnostics (matching twice as slow); 8 MB
#: (RE2's default) and 32 MB measured the same. The cache grows only as far as the texts read need it.
_OPTIONS.max_mem = 8 << 20


class RuleError(ValueError):
    """A rules file is invalid; the message names the file and the line."""


@dataclass(frozen=True)
class Rule:
    id: str
    category: str
    reason: str
    field: str
    pattern: str
    description: str = ""
    #: Only apply to recipients whose status class is this ('4' or '5'), if set.
    status_class: str = ""
    #: Only apply when the remote MTA or the recipient's domain matches this RE2 pattern.
    remote_mta: str = ""
    #: Only apply when the refused SMTP command is one of these.
    command: tuple[str, ...] = ()
    #: An override: its reason is the verdict, whatever the recipient model says.
    final: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "_regex", linear.compile(self.pattern, options=_OPTIONS))
        host = linear.compile(self.remote_mta, options=_OPTIONS) if self.remote_mta else None
        object.__setattr__(self, "_host", host)

    def search(self, text: str) -> bool:
        return bool(text) and self._regex.test(text)  # type: ignore[attr-defined]

    def applies(self, context: "MatchContext | None") -> bool:
        """Whether the rule's ``remote_mta`` and ``command`` keys accept ``context``."""
        if self.remote_mta:
            hosts = context.hosts if context else ()
            if not any(h and self._host.test(h) for h in hosts):  # type: ignore[attr-defined]
                return False
        if self.command:
            if context is None or context.command not in self.command:
                return False
        return True


@dataclass(frozen=True)
class MatchContext:
    """What a diagnostic was said in answer to: the hosts involved and the SMTP command."""

    #: The remote MTA's name and the recipient's domain (either may be empty).
    hosts: tuple[str, ...] = ()
    command: str = ""


@dataclass(frozen=True)
class RuleHit:
    rule: Rule

    @property
    def decided_by(self) -> str:
        return f"rule:{self.rule.id}"


class RuleSet:
    """An ordered set of rules, indexed by the field they read."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules: list[Rule] = list(rules)
        self._by_field: dict[str, _FieldRules] = {}
        grouped: dict[str, list[tuple[int, Rule]]] = {}
        for position, rule in enumerate(self.rules):
            grouped.setdefault(rule.field, []).append((position, rule))
        for name, entries in grouped.items():
            self._by_field[name] = _FieldRules(entries)
        self._has_final = any(rule.final for rule in self.rules)

    @classmethod
    def load(cls, paths: Iterable[Path | str] = ()) -> "RuleSet":
        """The shipped rules, overridden and extended by ``paths`` in order."""
        merged: dict[str, Rule] = {}
        for path in [DEFAULT_RULES, *paths]:
            for rule in load_rules_file(Path(path)):
                merged[rule.id] = rule
        return cls(merged.values())

    def fields(self) -> list[str]:
        return list(self._by_field)

    def first_match(
        self,
        fields: Mapping[str, str],
        only: Iterable[str] | None = None,
        categories: Iterable[str] | None = None,
        with_reason: bool = False,
    ) -> RuleHit | None:
        """The first rule, in file order, whose field matches.

        ``only`` restricts the search to some fields (the reason stage reads
        the diagnostic; the message stage reads subject, reply text, ...);
        ``categories`` to rules giving one of those categories;
        ``with_reason`` to rules that name a reason.
        """
        wanted = set(only) if only is not None else None
        kinds = set(categories) if categories is not None else None
        best: tuple[int, Rule] | None = None
        for name, group in self._by_field.items():
            if wanted is not None and name not in wanted:
                continue
            if kinds is not None and kinds.isdisjoint(group.categories):
                continue  # do not even compute a field no wanted rule reads
            for position, rule in group.matching(fields.get(name, "")):
                if kinds is not None and rule.category not in kinds or with_reason and not rule.reason:
                    continue
                if best is None or position < best[0]:
                    best = (position, rule)
                break
        return RuleHit(best[1]) if best is not None else None

    def match_field(
        self, field: str, text: str, status_class: str = "", context: MatchContext | None = None
    ) -> RuleHit | None:
        """The first rule reading ``field`` that matches ``text`` (in ``context``, if given)."""
        for rule in self.matches(field, text, status_class, context):
            return rule
        return None

    def final_match(self, text: str, status_class: str = "", context: MatchContext | None = None) -> RuleHit | None:
        """The first ``final = true`` diagnostic rule matching ``text``, if any."""
        if not self._has_final:
            return None
        return next((hit for hit in self.matches("diagnostic", text, status_class, context) if hit.rule.final), None)

    def matches(
        self, field: str, text: str, status_class: str = "", context: MatchContext | None = None
    ) -> Iterable[RuleHit]:
        """Every rule reading ``field`` that matches ``text``, in file order."""
        group = self._by_field.get(field)
        if group is None:
            return
        found = group.matching(text)
        reply = quoted_reply(text) if field == "diagnostic" else ""
        if reply:  # a rule for the server's reply reads it inside a relay's narration too
            found = sorted({**dict(found), **dict(group.matching(reply))}.items(), key=lambda hit: hit[0])
        for _, rule in found:
            if rule.status_class and status_class and rule.status_class != status_class:
                continue
            if (rule.remote_mta or rule.command) and not rule.applies(context):
                continue
            yield RuleHit(rule)


#: A field with more rules than this is matched with RE2's filter, else with one automaton (see _FieldRules).
FILTER_FROM = 16


class _FieldRules:
    """The rules reading one field, matched in one pass.

    One scan of the text says which of the field's patterns occur, instead of
    one search per rule; the rules that matched are then taken in file order.

    Few rules share one automaton (``re2.Set``); many (more than
    :data:`FILTER_FROM`: the diagnostic rules) are matched with RE2's filter
    (``re2.Filter``, FilteredRE2), which scans the text for the literal pieces
    each pattern needs (its atoms, all in one small automaton), then runs only
    the patterns whose pieces occur. Why: the automaton of the 81 diagnostic
    rules answered a text it had seen in 2.5 us, but built its lazy DFA states
    at about 80 us for each new text (250 us on the corpus's diagnostics; 0.1-0.17 s
    before each process's first 300 messages ran at full speed, paid again by
    every ``classify --jobs`` child): the states of 81 patterns started at every
    position combine. The filter costs 20 us a new text and 6 us a known one
    (3,015 distinct diagnostics from the corpus and training_data/, the same
    rules matched). A few patterns make no such combinations, and over long
    texts (a body) the filter's candidates each scan the whole text: there one
    automaton stays 2-3 times faster (docs/benchmarks.md).
    """

    def __init__(self, entries: list[tuple[int, Rule]]) -> None:
        self.entries = entries
        self.categories = frozenset(rule.category for _, rule in entries)
        matcher: re2.Filter | re2.Set | None
        if len(entries) > FILTER_FROM:
            matcher, options = re2.Filter(), (_OPTIONS,)
        else:
            matcher, options = re2.Set.SearchSet(_OPTIONS), ()
        try:
            for _, rule in entries:
                matcher.Add(rule.pattern, *options)
            matcher.Compile()
        except re2.error:
            matcher = None  # search rule by rule
        self._matcher = matcher
        #: The last two texts matched and their answers, newest first: a recipient's diagnostic
        #: (and the reply quoted in it) is read by the hand-written reasons, the final rules and
        #: the model's evidence in turn.
        self._last: tuple[tuple[str, tuple[tuple[int, Rule], ...]], ...] = (("", ()), ("", ()))

    def matching(self, text: str) -> tuple[tuple[int, Rule], ...]:
        """(file position, rule) of every rule whose pattern occurs in ``text``, in file order."""
        if not text:
            return ()
        last = self._last
        for seen, found in last:
            if seen == text:
                return found
        if self._matcher is None:
            found = tuple(entry for entry in self.entries if entry[1].search(text))
        else:
            hits = self._matcher.Match(text.encode("utf-8", "surrogatepass"))
            found = tuple(self.entries[i] for i in sorted(hits)) if hits else ()
        self._last = ((text, found), last[0])
        return found


def load_rules_file(path: Path) -> list[Rule]:
    """Parse and validate one rules file; raise :class:`RuleError` on any problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleError(f"{path}: cannot read: {exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(f"{path}: not valid TOML: {exc}") from exc
    entries = data.get("rule", [])
    if not isinstance(entries, list):
        raise RuleError(f"{path}: 'rule' must be an array of tables ([[rule]])")
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    id_lines = _id_lines(text)
    for entry in entries:
        rule_id = entry.get("id") if isinstance(entry, dict) else None
        found = id_lines.get(rule_id, []) if isinstance(rule_id, str) else []
        nth = 1 if rule_id in seen else 0
        line = found[nth] if len(found) > nth else 0
        where = f"{path}:{line}" if line else str(path)
        rule = _validate(entry, where)
        if rule.id in seen:
            raise RuleError(f"{where}: duplicate rule id {rule.id!r} (first defined at line {seen[rule.id]})")
        seen[rule.id] = line
        rules.append(rule)
    return rules


def _validate(entry: object, where: str) -> Rule:
    if not isinstance(entry, dict):
        raise RuleError(f"{where}: a rule must be a table")
    missing = [k for k in ("id", "category", "field", "pattern") if not entry.get(k)]
    if missing:
        raise RuleError(f"{where}: rule is missing {', '.join(missing)}")
    unknown = set(entry) - _KEYS
    if unknown:
        raise RuleError(f"{where}: rule {entry['id']!r} has unknown keys: {', '.join(sorted(unknown))}")
    category = entry["category"]
    if category not in CATEGORIES:
        raise RuleError(f"{where}: rule {entry['id']!r}: unknown category {category!r}")
    reason = entry.get("reason") or ""
    if reason and REASON_TO_CATEGORY.get(reason) not in (None, category):
        raise RuleError(
            f"{where}: rule {entry['id']!r}: reason {reason!r} belongs to "
            f"{REASON_TO_CATEGORY[reason]}, not {category}"
        )
    if reason and reason not in REASON_TO_CATEGORY:
        raise RuleError(f"{where}: rule {entry['id']!r}: unknown reason {reason!r}")
    field = entry["field"]
    if field not in FIELDS and not re.fullmatch(r"header:[A-Za-z0-9-]+", field):
        raise RuleError(f"{where}: rule {entry['id']!r}: unknown field {field!r} (one of {', '.join(FIELDS)}, header:<Name>)")
    command = entry.get("command", ())
    commands = (command,) if isinstance(command, str) else command
    if not isinstance(commands, (list, tuple)) or not all(isinstance(c, str) for c in commands):
        raise RuleError(f"{where}: rule {entry['id']!r}: command must be a string or a list of strings")
    commands = tuple(c.upper() for c in commands)
    bad = [c for c in commands if c not in COMMANDS]
    if bad:
        raise RuleError(f"{where}: rule {entry['id']!r}: unknown command {bad[0]!r} (one of {', '.join(COMMANDS)})")
    if (entry.get("remote_mta") or commands) and field != "diagnostic":
        raise RuleError(f"{where}: rule {entry['id']!r}: remote_mta and command only apply to field = \"diagnostic\"")
    if not isinstance(entry.get("final", False), bool):
        raise RuleError(f"{where}: rule {entry['id']!r}: final must be true or false")
    if entry.get("final") and field != "diagnostic":
        raise RuleError(f"{where}: rule {entry['id']!r}: final only applies to field = \"diagnostic\"")
    if "remote_mta" in entry and not isinstance(entry["remote_mta"], str):
        raise RuleError(f"{where}: rule {entry['id']!r}: remote_mta must be a pattern string")
    try:
        return Rule(
            id=str(entry["id"]),
            category=category,
            reason=reason,
            field=field,
            pattern=str(entry["pattern"]),
            description=str(entry.get("description", "")),
            status_class=str(entry.get("status_class", "")),
            remote_mta=str(entry.get("remote_mta", "")),
            command=commands,
            final=bool(entry.get("final", False)),
        )
    except re2.error as exc:
        detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise RuleError(f"{where}: rule {entry['id']!r}: bad pattern: {detail}") from exc


_ID_LINE = re.compile(r"""^\s*id\s*=\s*["']([^"'\n]*)["']""", re.M)


def _id_lines(text: str) -> dict[str, list[int]]:
    """Rule id -> the lines of its ``id = "..."`` entries, in one pass (for error messages)."""
    lines: dict[str, list[int]] = {}
    line, last = 1, 0
    for found in _ID_LINE.finditer(text):
        line += text.count("\n", last, found.start())
        last = found.start()
        lines.setdefault(found.group(1), []).append(line)
    return lines
