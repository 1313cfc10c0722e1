"""Drop the two indexes that another index of the same table already begins with.

Revision ID: 0011_drop_prefix_indexes
Revises: 0010_campaign_domain_counts
Create Date: 2026-12-05 14:00:00

``ix_message_verdicts_subscriber`` (subscriber_key) is the first column of
``ix_message_verdicts_subscriber_created`` (subscriber_key, created_at), and
``ix_recipient_verdicts_verdict_id`` (verdict_id) the first of the unique
(verdict_id, position): every look-up the shorter index served, the longer one
serves on SQLite and PostgreSQL alike. Each cost a B-tree insert per recorded
row, and the first one on a random key: about a quarter of a page written to
the log per message once the table outgrows the batch (106,000 messages
recorded, batches of 2,000: 909 of 13,455 log frames, the WAL read back after
a drain of 4,000).
"""
from __future__ import annotations

from alembic import op

revision = "0011_drop_prefix_indexes"
down_revision = "0010_campaign_domain_counts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_message_verdicts_subscriber", table_name="message_verdicts")
    op.drop_index("ix_recipient_verdicts_verdict_id", table_name="recipient_verdicts")


def downgrade() -> None:
    op.create_index("ix_recipient_verdicts_verdict_id", "recipient_verdicts", ["verdict_id"])
    op.create_index("ix_message_verdicts_subscriber", "message_verdicts", ["subscriber_key"])
