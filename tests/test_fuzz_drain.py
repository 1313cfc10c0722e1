"""CI's slice of benchmarks/fuzz_drain.py: 2,000 mutated real messages through the real worker.

Zero crashes, every message processed or quarantined once with its bytes
kept intact, memory that does not grow with the count. The full run
(100,000 messages) and its figures are in docs/benchmarks.md.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from fuzz_drain import fuzz  # noqa: E402

SEED = int(os.environ.get("RM_FUZZ_SEED", str(random.randrange(1_000_000))))


def test_two_thousand_mutated_messages_through_the_worker(tmp_path: Path, corpus: Path) -> None:
    totals = fuzz(2_000, 500, SEED, tmp_path, sync_kept_files=False)
    context = f"seed {SEED} (RM_FUZZ_SEED={SEED} to repeat)"
    assert totals.problems == [], f"{context}: {totals.problems[:20]}"
    assert (totals.messages, totals.failed) == (2_000, 0), context
    assert totals.processed + totals.quarantined + totals.duplicates == 2_000, context
    assert totals.rss_mb[-1] - totals.rss_mb[0] < 150, f"{context}: RSS {totals.rss_mb}"
