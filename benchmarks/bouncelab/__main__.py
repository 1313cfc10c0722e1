"""The bounce lab from the command line (run as root: namespaces and MTAs need it).

    python -m benchmarks.bouncelab run [--mta postfix,exim,opensmtpd,sendmail] [--out training_data/lab]
                                       [--repeat 1] [--mixed 60] [--forwards 15] [--seed 1] [--replace] [--keep]
    python -m benchmarks.bouncelab extract          # refresh catalogue/corpus.jsonl from the corpus
    python -m benchmarks.bouncelab score [--set training_data/lab] [--no-sisimai]

``run`` writes the DSNs it could label to ``--out`` (``<sha16>.eml`` +
``labels.jsonl``) and prints how many per MTA and reason. See docs/bounce-lab.md.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections import Counter
from pathlib import Path

from .catalogue import load
from .lab import FORWARDING, LMTP, MTAS, run_lab
from .labels import write
from .mtas import Timings
from .plan import Planner

REPO = Path(__file__).resolve().parents[2]


def _stop(signum, frame):  # noqa: ARG001
    raise SystemExit(f"bouncelab: stopped by signal {signum}")


def run(args: argparse.Namespace) -> int:
    signal.signal(signal.SIGTERM, _stop)
    mtas = [m.strip() for m in args.mta.split(",") if m.strip()]
    unknown = [m for m in mtas if m not in MTAS]
    if unknown:
        raise SystemExit(f"bouncelab: unknown MTA {unknown[0]!r} (choose from {', '.join(MTAS)})")
    catalogue = load()
    planner = Planner(catalogue, seed=args.seed)
    for mta in mtas:
        planner.for_mta(mta, repeat=args.repeat, mixed=args.mixed,
                        forwards=args.forwards if mta in FORWARDING else 0,
                        quota=args.quota if mta in LMTP else 0)
    plan = planner.plan
    print(f"bouncelab: {len(catalogue)} catalogue entries, {len(plan.messages)} messages for {', '.join(mtas)}")
    timings = Timings(warn_after=args.warn, expire_after=args.expire, retry_every=args.retry)
    outcome = run_lab(plan, catalogue, mtas, timings, keep=args.keep)
    out = Path(args.out)
    if args.replace and out.exists():
        for path in out.glob("*.eml"):
            path.unlink()
        (out / "labels.jsonl").unlink(missing_ok=True)
    written = write(out, outcome.rows)
    if args.unlabelled:
        folder = Path(args.unlabelled)
        folder.mkdir(parents=True, exist_ok=True)
        for i, (mta, raw) in enumerate(outcome.unlabelled):
            (folder / f"{mta}-{i:04d}.eml").write_bytes(raw)
    print(f"bouncelab: {len(outcome.rows)} labelled DSNs ({written} new) -> {out}; "
          f"{len(outcome.unlabelled)} unlabelled; {len(outcome.pending)} recipients never reported; "
          f"{outcome.seconds:.0f}s")
    by_mta = Counter(row["mta"] for _, row in outcome.rows)
    reasons = Counter((row["mta"], r["reason"]) for _, row in outcome.rows for r in row["recipients"][:1])
    for mta in mtas:
        detail = ", ".join(f"{reason} {n}" for (m, reason), n in sorted(reasons.items()) if m == mta)
        print(f"  {mta:10} {by_mta[mta]:5}  {detail}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["score"]:
        from .score import main as score_main

        return score_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bouncelab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run the MTAs and collect labelled DSNs")
    p.add_argument("--mta", default=",".join(MTAS))
    p.add_argument("--out", default=str(REPO / "training_data" / "lab"))
    p.add_argument("--repeat", type=int, default=1, help="times each permanent entry is used per MTA")
    p.add_argument("--mixed", type=int, default=60, help="multi-recipient messages per MTA")
    p.add_argument("--forwards", type=int, default=15, help="forwarded recipients per forwarding MTA")
    p.add_argument("--quota", type=int, default=8, help="Dovecot quota refusals per entry and LMTP-capable MTA")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--warn", type=int, default=25, help="seconds before a delay warning")
    p.add_argument("--expire", type=int, default=75, help="seconds before a deferred message expires")
    p.add_argument("--retry", type=int, default=8, help="seconds between queue runs")
    p.add_argument("--replace", action="store_true", help="empty --out first")
    p.add_argument("--unlabelled", help="write the DSNs the lab could not label to this folder")
    p.add_argument("--keep", action="store_true", help="keep the MTAs' folders (logs, queues) for debugging")
    sub.add_parser("extract", help="refresh catalogue/corpus.jsonl from the labelled corpus")
    sub.add_parser("score", help="accuracy per MTA, ours and Sisimai's (options: see benchmarks/bouncelab/score.py)")
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args)
    from .extract import main as extract_main

    sys.argv = [sys.argv[0]]
    extract_main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
