"""Per-day verdict counts kept once per INSERT statement, not once per verdict.

Revision ID: 0007_bulk_counts
Revises: 0006_api_sessions
Create Date: 2026-12-04 06:00:00

The worker inserts a whole batch's verdicts in one statement (issue 13).
The row trigger of 0003 ran three upserts per verdict; now PostgreSQL
counts with a statement-level trigger (one upsert per counted group, from
the statement's transition table), and SQLite, which has only row
triggers, lets a transaction pause its row trigger while it counts a batch
itself with one statement (see ``hygiene_counts.BulkCount``). Every other
insert is counted as before. The counts themselves do not change.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from responsemaster.store import hygiene_counts

revision = "0007_bulk_counts"
down_revision = "0006_api_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in hygiene_counts.drop_trigger_ddl(dialect) + hygiene_counts.trigger_ddl(dialect):
        op.execute(sa.text(statement))


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in hygiene_counts.drop_trigger_ddl(dialect) + hygiene_counts.row_trigger_ddl(dialect):
        op.execute(sa.text(statement))
