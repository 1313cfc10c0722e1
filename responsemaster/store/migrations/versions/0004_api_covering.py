"""API read paths: a covering index for one domain's or campaign's day counts.

Revision ID: 0004_api_covering
Revises: 0003_api
Create Date: 2026-11-23 16:00:00

Measured at 5M verdicts (docs/benchmarks.md, "API under load"): the per-domain 30-day count read
~330 rows scattered over as many heap pages on PostgreSQL; from this index it is an
index-only scan (and a covering-index search on SQLite).
"""
from __future__ import annotations

from alembic import op

# Registers the table's model (and its indexes) in the shared metadata, like 0003.
from responsemaster.store import hygiene_counts  # noqa: F401

revision = "0004_api_covering"
down_revision = "0003_api"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_verdict_day_counts_covering", "verdict_day_counts",
                    ["dimension", "value", "day", "category", "reason", "n"])


def downgrade() -> None:
    op.drop_index("ix_verdict_day_counts_covering", table_name="verdict_day_counts")
