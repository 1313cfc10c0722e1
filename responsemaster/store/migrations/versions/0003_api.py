"""API read paths: per-day verdict counts kept by a trigger, and three read indexes.

Revision ID: 0003_api
Revises: 0002_mailer
Create Date: 2026-11-23 14:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# The table and indexes are declared in this module; importing it registers them in the
# shared metadata, so the "migrated schema equals the models" check sees them too.
from responsemaster.store import hygiene_counts

revision = "0003_api"
down_revision = "0002_mailer"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "verdict_day_counts",
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("dimension", "value", "day", "category", "reason"),
    )
    op.create_index("ix_verdict_day_counts_dimension_day", "verdict_day_counts", ["dimension", "day"])
    op.create_index("ix_raw_messages_state_received", "raw_messages", ["state", "received_at"])
    op.create_index("ix_review_items_state_confidence", "review_items", ["state", "confidence", "id"])
    op.create_index("ix_message_verdicts_subscriber_created", "message_verdicts", ["subscriber_key", "created_at"])
    dialect = op.get_bind().dialect.name
    for statement in hygiene_counts.backfill_sql(dialect) + hygiene_counts.row_trigger_ddl(dialect):
        op.execute(sa.text(statement))


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in hygiene_counts.drop_trigger_ddl(dialect):
        op.execute(sa.text(statement))
    op.drop_index("ix_message_verdicts_subscriber_created", table_name="message_verdicts")
    op.drop_index("ix_review_items_state_confidence", table_name="review_items")
    op.drop_index("ix_raw_messages_state_received", table_name="raw_messages")
    op.drop_index("ix_verdict_day_counts_dimension_day", table_name="verdict_day_counts")
    op.drop_table("verdict_day_counts")
