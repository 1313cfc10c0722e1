"""RE2's memory budget and the diagnostic rules: microseconds a text, by budget.

    python benchmarks/rule_budget.py [--messages 5000] [--budgets 8,16,32,64]

Why: all the rules reading one field are matched as one RE2 set (one scan of
the text), and RE2 runs it with a lazy DFA whose state cache is bounded by
the budget (``max_mem``; the DFA gets about two thirds). When the cache is too
small for the automaton and the variety of texts, RE2 throws it away and
builds it again, and matching gets 10-100x slower without any change in what
matches. This replays the texts the shipped classifier really hands the
diagnostic set while it classifies drain_bench.py's mix of N messages,
through a set built with each budget: three passes each (the first one
builds the cache), microseconds per text, and whether the hits agree with
the shipped set's.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import re2

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))


def diagnostic_texts(messages: int) -> tuple[list[str], object]:
    """The texts the diagnostic rule set is asked about while the mix is classified, in order."""
    import drain_bench

    from responsemaster.classify import build_classifier, rules
    from responsemaster.config import load_settings

    texts: list[str] = []
    shipped = rules._FieldRules.matching

    def recording(self: object, text: str) -> list:
        if self is group[0]:
            texts.append(text)
        return shipped(self, text)  # type: ignore[arg-type]

    classifier = build_classifier(load_settings(None))
    group = [classifier.rules._by_field["diagnostic"]]  # type: ignore[attr-defined]
    rules._FieldRules.matching = recording  # type: ignore[method-assign]
    try:
        for raw in drain_bench.messages_for(drain_bench.corpus_files(), messages):
            classifier.classify(raw)  # type: ignore[attr-defined]
    finally:
        rules._FieldRules.matching = shipped  # type: ignore[method-assign]
    return texts, group[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5_000)
    parser.add_argument("--budgets", default="8,16,32,64", help="megabytes, comma-separated")
    args = parser.parse_args()
    from responsemaster.classify.rules import _OPTIONS

    texts, group = diagnostic_texts(args.messages)
    data = [text.encode("utf-8", "surrogatepass") for text in texts]
    expected = [sorted(group._set.Match(item) or []) for item in data]  # type: ignore[attr-defined]
    print(f"{len(data):,} diagnostic texts from {args.messages:,} messages; {len(group.entries)} rules in the set; "
          f"shipped budget {_OPTIONS.max_mem >> 20} MB\n")
    print("| budget MB | pass 1 us/text | pass 2 | pass 3 | same hits |")
    print("|---:|---:|---:|---:|---|")
    for megabytes in (int(part) for part in args.budgets.split(",")):
        options = re2.Options()
        options.case_sensitive, options.log_errors, options.max_mem = False, False, megabytes << 20
        automaton = re2.Set.SearchSet(options)
        for _, rule in group.entries:
            automaton.Add(rule.pattern)
        automaton.Compile()
        passes, same = [], True
        for _ in range(3):
            start = time.perf_counter()
            found = [automaton.Match(item) for item in data]
            passes.append((time.perf_counter() - start) * 1e6 / len(data))
            same = same and [sorted(hits or []) for hits in found] == expected
        print(f"| {megabytes} | {passes[0]:.1f} | {passes[1]:.1f} | {passes[2]:.1f} | {'yes' if same else 'NO'} |")


if __name__ == "__main__":
    main()
