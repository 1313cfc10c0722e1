"""The operator console: which relay took each delivery, who paused a campaign, and its read paths.

Revision ID: 0008_console
Revises: 0007_bulk_counts
Create Date: 2026-11-24 09:00:00

- ``deliveries.relay``: the delivery log is filtered by relay (sender account);
  rows sent before this migration get ``""`` (not recorded).
- ``campaign_plans.paused_by``: a campaign paused by a person stays paused
  until resumed, even when a scheduled or continued run comes due.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from responsemaster.store import console_indexes

revision = "0008_console"
down_revision = "0007_bulk_counts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("relay", sa.String(length=255), nullable=False, server_default=""))
    op.add_column("campaign_plans", sa.Column("paused_by", sa.String(length=255), nullable=False, server_default=""))
    for index in console_indexes.INDEXES:
        index.create(op.get_bind())


def downgrade() -> None:
    for index in console_indexes.INDEXES:
        index.drop(op.get_bind())
    with op.batch_alter_table("campaign_plans") as batch:
        batch.drop_column("paused_by")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("relay")
