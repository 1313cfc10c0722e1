"""Development scorer: our classifier on the labelled corpora, with every miss listed.

    python benchmarks/score_corpus.py [--set bounces|hand-labelled] [--misses] [--no-model]

Unlike classify_bench.py this is not held out: it scores the shipped model on
data it may have trained on. Use it to find where detectors and rules fail;
quote classify_bench.py's cross-validated numbers, not these.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import SETS, Score, load, prediction_from_verdict, print_misses  # noqa: E402

from responsemaster.classify import build_classifier  # noqa: E402
from responsemaster.config import Settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=SETS, action="append")
    parser.add_argument("--misses", action="store_true", help="list every wrong category, reason and address")
    parser.add_argument("--no-model", action="store_true")
    args = parser.parse_args()
    settings = Settings()
    settings.classify.use_model = not args.no_model
    classifier = build_classifier(settings)
    for set_name in args.set or SETS:
        score = Score()
        for item in load(set_name):
            verdict = classifier.classify(item.path.read_bytes())
            pred = prediction_from_verdict(verdict)
            score.add(item, pred)
            if args.misses:
                print_misses(item, pred, verdict)
        print(
            f"{set_name}: n={score.n} category={score.accuracy:.3f} macroF1={score.macro_f1():.3f} "
            f"addr P={score.addr_precision:.3f} R={score.addr_recall:.3f} "
            f"bounce-addr P={score.bounce_addr_precision:.3f} R={score.bounce_addr_recall:.3f} "
            f"reason={score.reason_accuracy:.3f}"
        )
        for label, (p, r, f1, support) in score.per_category().items():
            print(f"  {label:22} P={p:.2f} R={r:.2f} F1={f1:.2f} n={support}")


if __name__ == "__main__":
    main()
