"""The cyclic garbage collector set for a worker's batches.

Why: a worker holds a whole batch (up to 5,000 messages, their verdicts and
rows) until it commits, and CPython's collector, with its default young
threshold of 700 new container objects, ran about 600 collections per 10,000
messages, each older one walking every object the batch still held: about
a hundredth of the drain's CPU, measured with ``gc.callbacks`` (0.12 s of 9.6
on drain_bench's 10,000 messages; 0.03 s at the threshold below). Nearly all
of a batch's garbage is freed by reference counting when the batch ends; the
collector is only for the cycles (a parser's bound generator and its state),
which wait a little longer now: peak memory did not move (182 MB either way).
"""

from __future__ import annotations

import gc

#: New container objects between two young collections (CPython's default: 700).
YOUNG_THRESHOLD = 20_000


def suit_batches() -> None:
    """Collect young objects every :data:`YOUNG_THRESHOLD` allocations (the older generations keep their ratios)."""
    _young, middle, old = gc.get_threshold()
    if _young < YOUNG_THRESHOLD:
        gc.set_threshold(YOUNG_THRESHOLD, middle, old)
