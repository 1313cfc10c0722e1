"""Drop ``ix_raw_messages_received_at``, an index no query reads.

Revision ID: 0012_drop_received_at_index
Revises: 0011_drop_prefix_indexes
Create Date: 2026-12-05 20:30:00

The one read of ``raw_messages`` by time is the quarantine list (state
first, newest first), served by ``ix_raw_messages_state_received`` (state,
received_at); nothing orders or filters by ``received_at`` alone. The index
still cost every recorded message a B-tree insert.
"""
from __future__ import annotations

from alembic import op

revision = "0012_drop_received_at_index"
down_revision = "0011_drop_prefix_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_raw_messages_received_at", table_name="raw_messages")


def downgrade() -> None:
    op.create_index("ix_raw_messages_received_at", "raw_messages", ["received_at"])
