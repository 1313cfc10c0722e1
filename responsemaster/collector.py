"""The cyclic garbage collector set for a worker's batches: young collections far apart, none while recording.

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
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: New container objects between two young collections (CPython's default: 700).
YOUNG_THRESHOLD = 20_000


def suit_batches() -> None:
    """Collect young objects every :data:`YOUNG_THRESHOLD` allocations (the older generations keep their ratios)."""
    _young, middle, old = gc.get_threshold()
    if _young < YOUNG_THRESHOLD:
        gc.set_threshold(YOUNG_THRESHOLD, middle, old)


@contextmanager
def paused() -> Iterator[None]:
    """No collection inside the block (in the main thread; elsewhere a no-op), as before after it.

    For the recording of a batch: every container it allocates (row tuples,
    the rows handed to routing) lives until the commit, so a collection in
    there walks thousands of objects and frees none. Measured on 20,000
    messages in batches of 5,000: 22 young and 2 middle collections, 87 ms,
    about 2% of the worker's own CPU. Cycles made meanwhile wait for the
    next collection after the block. In a thread (Huey's ``thread`` workers)
    it does nothing: the switch is the whole process's, and several threads
    recording in turn could keep it off for good.
    """
    if threading.current_thread() is not threading.main_thread() or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
