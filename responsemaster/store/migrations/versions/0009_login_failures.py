"""Failed sign-ins in the database, so every server process counts the same ones.

Revision ID: 0009_login_failures
Revises: 0008_console
Create Date: 2026-12-04 09:20:00

The login throttle counted failures in each process's memory: with
``serve --workers N`` a client had N times the budget. The rows live only
for the throttle's window (each new failure deletes the aged ones).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_login_failures"
down_revision = "0008_console"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_login_failures_client", "login_failures", ["client"])
    op.create_index("ix_login_failures_at", "login_failures", ["at"])


def downgrade() -> None:
    op.drop_index("ix_login_failures_at", table_name="login_failures")
    op.drop_index("ix_login_failures_client", table_name="login_failures")
    op.drop_table("login_failures")
