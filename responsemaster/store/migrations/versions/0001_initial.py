"""Initial schema: the whole product (return-path loop, mailer, API).

Written from the SQLModel metadata; tests/test_store_migrations.py checks that
the migrated schema still equals the models on SQLite and PostgreSQL.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 09:56:34.155439
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('key_hash', sa.String(length=128), nullable=False),
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key_hash'),
    sa.UniqueConstraint('name')
    )
    op.create_table('lists',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('message_claims',
    sa.Column('source', sa.String(length=255), nullable=False),
    sa.Column('key', sa.String(length=512), nullable=False),
    sa.Column('owner', sa.String(length=128), nullable=False),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('source', 'key')
    )
    op.create_table('operation_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=255), nullable=False),
    sa.Column('operation', sa.String(length=64), nullable=False),
    sa.Column('target', sa.String(length=512), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_operation_log_at'), 'operation_log', ['at'], unique=False)

    op.create_table('raw_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uid', sa.String(length=40), nullable=False),
    sa.Column('source', sa.String(length=255), nullable=False),
    sa.Column('key', sa.String(length=512), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('path', sa.String(length=512), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source', 'key', name='uq_raw_messages_source_key'),
    sa.UniqueConstraint('uid')
    )
    op.create_index(op.f('ix_raw_messages_received_at'), 'raw_messages', ['received_at'], unique=False)
    op.create_index('ix_raw_messages_source_sha256', 'raw_messages', ['source', 'sha256'], unique=False)
    op.create_index('ix_raw_messages_source_state', 'raw_messages', ['source', 'state'], unique=False)

    op.create_table('sender_accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('port', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=255), nullable=False),
    sa.Column('secret_env', sa.String(length=255), nullable=False),
    sa.Column('from_address', sa.String(length=320), nullable=False),
    sa.Column('max_per_hour', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('source_state',
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('last_batch_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('last_error_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('subscribers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=320), nullable=False),
    sa.Column('address_key', sa.String(length=320), nullable=False),
    sa.Column('domain', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('status_reason', sa.String(length=255), nullable=False),
    sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('bounce_score', sa.Float(), nullable=False),
    sa.Column('last_bounce_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_verdict_id', sa.Integer(), nullable=True),
    sa.Column('last_category', sa.String(length=32), nullable=False),
    sa.Column('last_verdict_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('suggested_address', sa.String(length=320), nullable=False),
    sa.Column('origin', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('address_key', name='uq_subscribers_address_key')
    )
    op.create_index('ix_subscribers_domain_status', 'subscribers', ['domain', 'status'], unique=False)
    op.create_index(op.f('ix_subscribers_status'), 'subscribers', ['status'], unique=False)

    op.create_table('actions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('disposition', sa.String(length=32), nullable=False),
    sa.Column('target', sa.String(length=512), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=700), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['raw_messages.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('idempotency_key')
    )
    op.create_index('ix_actions_disposition_target_created', 'actions', ['disposition', 'target', 'created_at'], unique=False)
    op.create_index('ix_actions_message', 'actions', ['message_id'], unique=False)

    op.create_table('campaigns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('list_id', sa.Integer(), nullable=True),
    sa.Column('subject', sa.String(length=998), nullable=False),
    sa.Column('template', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('scheduled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['list_id'], ['lists.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_index(op.f('ix_campaigns_list_id'), 'campaigns', ['list_id'], unique=False)

    op.create_table('list_members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('list_id', sa.Integer(), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('joined_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('left_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['list_id'], ['lists.id'], ),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('list_id', 'subscriber_id', name='uq_list_members')
    )
    op.create_index(op.f('ix_list_members_list_id'), 'list_members', ['list_id'], unique=False)
    op.create_index(op.f('ix_list_members_subscriber_id'), 'list_members', ['subscriber_id'], unique=False)

    op.create_table('message_verdicts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('decided_by', sa.String(length=255), nullable=False),
    sa.Column('subscriber', sa.String(length=320), nullable=False),
    sa.Column('subscriber_key', sa.String(length=320), nullable=False),
    sa.Column('domain', sa.String(length=255), nullable=False),
    sa.Column('campaign', sa.String(length=255), nullable=False),
    sa.Column('via', sa.String(length=16), nullable=False),
    sa.Column('forged_token', sa.Boolean(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('sender', sa.String(length=998), nullable=False),
    sa.Column('header_message_id', sa.String(length=998), nullable=False),
    sa.Column('suggested_address', sa.String(length=320), nullable=False),
    sa.Column('feedback_type', sa.String(length=64), nullable=False),
    sa.Column('reply_text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['raw_messages.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('message_id')
    )
    op.create_index('ix_message_verdicts_campaign_category', 'message_verdicts', ['campaign', 'category'], unique=False)
    op.create_index('ix_message_verdicts_category_created', 'message_verdicts', ['category', 'created_at'], unique=False)
    op.create_index('ix_message_verdicts_domain_created', 'message_verdicts', ['domain', 'created_at'], unique=False)
    op.create_index('ix_message_verdicts_subscriber', 'message_verdicts', ['subscriber_key'], unique=False)

    op.create_table('review_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('relabelled_to', sa.String(length=32), nullable=False),
    sa.Column('resolved_by', sa.String(length=255), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['raw_messages.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('message_id')
    )
    op.create_index('ix_review_items_state_created', 'review_items', ['state', 'created_at'], unique=False)

    op.create_table('suppressions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=320), nullable=False),
    sa.Column('address_key', sa.String(length=320), nullable=False),
    sa.Column('domain', sa.String(length=255), nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=False),
    sa.Column('by', sa.String(length=255), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('address_key', name='uq_suppressions_address_key')
    )
    op.create_index(op.f('ix_suppressions_domain'), 'suppressions', ['domain'], unique=False)
    op.create_index(op.f('ix_suppressions_reason'), 'suppressions', ['reason'], unique=False)
    op.create_index(op.f('ix_suppressions_since'), 'suppressions', ['since'], unique=False)
    op.create_index(op.f('ix_suppressions_subscriber_id'), 'suppressions', ['subscriber_id'], unique=False)

    op.create_table('deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=320), nullable=False),
    sa.Column('domain', sa.String(length=255), nullable=False),
    sa.Column('return_path', sa.String(length=320), nullable=False),
    sa.Column('message_id', sa.String(length=998), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('queued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], ),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('campaign_id', 'subscriber_id', name='uq_deliveries_campaign_subscriber')
    )
    op.create_index(op.f('ix_deliveries_campaign_id'), 'deliveries', ['campaign_id'], unique=False)
    op.create_index(op.f('ix_deliveries_domain'), 'deliveries', ['domain'], unique=False)
    op.create_index('ix_deliveries_status_next', 'deliveries', ['status', 'next_attempt_at'], unique=False)
    op.create_index(op.f('ix_deliveries_subscriber_id'), 'deliveries', ['subscriber_id'], unique=False)

    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('action_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('idempotency_key', sa.String(length=700), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lease_owner', sa.String(length=128), nullable=False),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['action_id'], ['actions.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('idempotency_key')
    )
    op.create_index(op.f('ix_outbox_action_id'), 'outbox', ['action_id'], unique=False)
    op.create_index('ix_outbox_state_next', 'outbox', ['state', 'next_attempt_at'], unique=False)

    op.create_table('recipient_verdicts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('verdict_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=320), nullable=False),
    sa.Column('address_key', sa.String(length=320), nullable=False),
    sa.Column('domain', sa.String(length=255), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reply_code', sa.String(length=8), nullable=False),
    sa.Column('remote_mta', sa.String(length=255), nullable=False),
    sa.Column('diagnostic', sa.Text(), nullable=False),
    sa.Column('final_recipient', sa.String(length=320), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('decided_by', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['verdict_id'], ['message_verdicts.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('verdict_id', 'position', name='uq_recipient_verdicts_position')
    )
    op.create_index('ix_recipient_verdicts_address_key', 'recipient_verdicts', ['address_key'], unique=False)
    op.create_index('ix_recipient_verdicts_category_created', 'recipient_verdicts', ['category', 'created_at'], unique=False)
    op.create_index('ix_recipient_verdicts_domain_category', 'recipient_verdicts', ['domain', 'category'], unique=False)
    op.create_index(op.f('ix_recipient_verdicts_verdict_id'), 'recipient_verdicts', ['verdict_id'], unique=False)



def downgrade() -> None:
    op.drop_index(op.f('ix_recipient_verdicts_verdict_id'), table_name='recipient_verdicts')
    op.drop_index('ix_recipient_verdicts_domain_category', table_name='recipient_verdicts')
    op.drop_index('ix_recipient_verdicts_category_created', table_name='recipient_verdicts')
    op.drop_index('ix_recipient_verdicts_address_key', table_name='recipient_verdicts')

    op.drop_table('recipient_verdicts')
    op.drop_index('ix_outbox_state_next', table_name='outbox')
    op.drop_index(op.f('ix_outbox_action_id'), table_name='outbox')

    op.drop_table('outbox')
    op.drop_index(op.f('ix_deliveries_subscriber_id'), table_name='deliveries')
    op.drop_index('ix_deliveries_status_next', table_name='deliveries')
    op.drop_index(op.f('ix_deliveries_domain'), table_name='deliveries')
    op.drop_index(op.f('ix_deliveries_campaign_id'), table_name='deliveries')

    op.drop_table('deliveries')
    op.drop_index(op.f('ix_suppressions_subscriber_id'), table_name='suppressions')
    op.drop_index(op.f('ix_suppressions_since'), table_name='suppressions')
    op.drop_index(op.f('ix_suppressions_reason'), table_name='suppressions')
    op.drop_index(op.f('ix_suppressions_domain'), table_name='suppressions')

    op.drop_table('suppressions')
    op.drop_index('ix_review_items_state_created', table_name='review_items')

    op.drop_table('review_items')
    op.drop_index('ix_message_verdicts_subscriber', table_name='message_verdicts')
    op.drop_index('ix_message_verdicts_domain_created', table_name='message_verdicts')
    op.drop_index('ix_message_verdicts_category_created', table_name='message_verdicts')
    op.drop_index('ix_message_verdicts_campaign_category', table_name='message_verdicts')

    op.drop_table('message_verdicts')
    op.drop_index(op.f('ix_list_members_subscriber_id'), table_name='list_members')
    op.drop_index(op.f('ix_list_members_list_id'), table_name='list_members')

    op.drop_table('list_members')
    op.drop_index(op.f('ix_campaigns_list_id'), table_name='campaigns')

    op.drop_table('campaigns')
    op.drop_index('ix_actions_message', table_name='actions')
    op.drop_index('ix_actions_disposition_target_created', table_name='actions')

    op.drop_table('actions')
    op.drop_index(op.f('ix_subscribers_status'), table_name='subscribers')
    op.drop_index('ix_subscribers_domain_status', table_name='subscribers')

    op.drop_table('subscribers')
    op.drop_table('source_state')
    op.drop_table('sender_accounts')
    op.drop_index('ix_raw_messages_source_state', table_name='raw_messages')
    op.drop_index('ix_raw_messages_source_sha256', table_name='raw_messages')
    op.drop_index(op.f('ix_raw_messages_received_at'), table_name='raw_messages')

    op.drop_table('raw_messages')
    op.drop_index(op.f('ix_operation_log_at'), table_name='operation_log')

    op.drop_table('operation_log')
    op.drop_table('message_claims')
    op.drop_table('lists')
    op.drop_table('api_keys')
