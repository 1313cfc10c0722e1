"""Per-recipient verdicts keep the SMTP command the remote server rejected.

Revision ID: 0005_recipient_command
Revises: 0004_api_covering
Create Date: 2026-11-23 13:00:00

``recipient_verdicts`` already kept what decided each recipient's verdict
(``decided_by``, status, reply code, remote MTA, diagnostic, DSN action); the
classifier also reports the SMTP command that failed (``RCPT``, ``MAIL``,
``DATA``...), which tells a rejection of the address (RCPT) from one of the
sender or the content (MAIL, DATA). Existing rows get ``""`` (not reported).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_recipient_command"
down_revision = "0004_api_covering"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN with a default on both backends: no table rewrite, even on SQLite.
    op.add_column("recipient_verdicts", sa.Column("command", sa.String(length=16), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("recipient_verdicts") as batch:
        batch.drop_column("command")
