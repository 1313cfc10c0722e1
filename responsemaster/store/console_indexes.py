"""Read paths of the operator console on tables other modules own (created by migration ``0006_console``).

Declared here, like :mod:`responsemaster.store.hygiene_counts` does for the
API, so the shared metadata (and the migration check) knows about them. Each
one is there because a console page measured slow without it at 1M
subscribers and 5M verdicts (``benchmarks/console_bench.py``).
"""

from __future__ import annotations

from sqlalchemy import Index

INDEXES: list[Index] = []
