"""Server-side sessions for the review page and the console.

Revision ID: 0006_api_sessions
Revises: 0005_recipient_command
Create Date: 2026-12-04 09:00:00

The sign-in cookie held the API key itself for 12 hours, and signing out did
not end it. Now it holds a random id; the row (keyed by the id's SHA-256)
says which key signed in, until when, and whether it was ended.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_api_sessions"
down_revision = "0005_recipient_command"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["key_id"], ["api_keys.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("id_hash"),
    )
    op.create_index("ix_api_sessions_key_id", "api_sessions", ["key_id"])
    op.create_index("ix_api_sessions_expires_at", "api_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_api_sessions_expires_at", table_name="api_sessions")
    op.drop_index("ix_api_sessions_key_id", table_name="api_sessions")
    op.drop_table("api_sessions")
