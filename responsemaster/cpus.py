"""How many CPUs this process may use: the default number of drain workers and of classify jobs."""

from __future__ import annotations

import os


def usable_cpus() -> int:
    """The CPUs of this process's affinity mask (a container or ``taskset`` may allow fewer than the machine has)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no affinity API (macOS)
        return max(1, os.cpu_count() or 1)
