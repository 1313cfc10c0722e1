"""Per-campaign, per-domain counts of deliveries and verdicts, kept by triggers.

Revision ID: 0010_campaign_domain_counts
Revises: 0009_login_failures
Create Date: 2026-12-04 12:00:00

A campaign's page "by domain" summed its deliveries and returns at read time
(p95 462 ms on PostgreSQL at 1M subscribers / 5M verdicts, growing with the
campaign). ``campaign_domain_deliveries`` and ``campaign_domain_verdicts``
hold those sums, moved by triggers in the same transaction as the rows they
count (see :mod:`responsemaster.store.campaign_counts`). They are back-filled
here from the rows already present, before the triggers exist, inside the
migration's transaction (on PostgreSQL under an exclusive lock on both
counted tables, so no row written meanwhile is missed or counted twice).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from responsemaster.store import campaign_counts

revision = "0010_campaign_domain_counts"
down_revision = "0009_login_failures"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaign_domain_deliveries",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", "domain", "status"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "campaign_domain_verdicts",
        sa.Column("campaign", sa.String(length=255), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("at_send", sa.Boolean(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("campaign", "domain", "category", "at_send"),
        sqlite_with_rowid=False,
    )
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(sa.text("LOCK TABLE deliveries, message_verdicts IN SHARE ROW EXCLUSIVE MODE"))
    for statement in campaign_counts.backfill_sql() + campaign_counts.trigger_ddl(dialect):
        op.execute(sa.text(statement))


def downgrade() -> None:
    for statement in campaign_counts.drop_trigger_ddl(op.get_bind().dialect.name):
        op.execute(sa.text(statement))
    op.drop_table("campaign_domain_verdicts")
    op.drop_table("campaign_domain_deliveries")
