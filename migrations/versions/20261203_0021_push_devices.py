"""Messaging: push devices (FCM tokens, web push subscriptions) per profile and inbound SMS
(keywords changing SMS consent, once per MessageSid); row-level security on each (PostgreSQL).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03 15:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from backend.core.tenancy import drop_row_level_security_sql, row_level_security_sql

revision: str = '0021'
# Chained after the provider accounts (0020, merged into this branch) so one head exists.
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = ['push_devices', 'inbound_sms']


def upgrade() -> None:
    op.create_table('push_devices',
    sa.Column('profile_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.Enum('fcm', 'webpush', name='push_device_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('token', sa.Text(), nullable=False),
    sa.Column('token_key', sa.String(length=64), nullable=False),
    sa.Column('p256dh', sa.String(length=100), nullable=True),
    sa.Column('auth', sa.String(length=40), nullable=True),
    sa.Column('app_id', sa.String(length=200), nullable=True),
    sa.Column('platform', sa.Enum('android', 'ios', 'web', name='push_device_platform', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('label', sa.String(length=200), nullable=True),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'profile_id'], ['profiles.tenant_id', 'profiles.id'], name=op.f('fk_push_devices_tenant_id_profiles'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['brands.id'], name=op.f('fk_push_devices_tenant_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_push_devices')),
    sa.UniqueConstraint('tenant_id', 'token_key', name=op.f('uq_push_devices_tenant_id_token_key'))
    )
    with op.batch_alter_table('push_devices', schema=None) as batch_op:
        batch_op.create_index('ix_push_devices_tenant_id_profile_id', ['tenant_id', 'profile_id'], unique=False)

    op.create_table('inbound_sms',
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('message_sid', sa.String(length=64), nullable=False),
    sa.Column('from_phone', sa.String(length=32), nullable=False),
    sa.Column('to_phone', sa.String(length=32), nullable=False),
    sa.Column('keyword', sa.String(length=20), nullable=True),
    sa.Column('action', sa.Enum('opt_out', 'opt_in', 'none', 'unknown_sender', name='inbound_sms_action', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('profile_id', sa.Uuid(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['brands.id'], name=op.f('fk_inbound_sms_tenant_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_inbound_sms')),
    sa.UniqueConstraint('tenant_id', 'message_sid', name=op.f('uq_inbound_sms_tenant_id_message_sid'))
    )
    with op.batch_alter_table('inbound_sms', schema=None) as batch_op:
        batch_op.create_index('ix_inbound_sms_tenant_id_from_phone', ['tenant_id', 'from_phone'], unique=False)
        batch_op.create_index('ix_inbound_sms_tenant_id_profile_id', ['tenant_id', 'profile_id'], unique=False)

    if op.get_bind().dialect.name == 'postgresql':
        for table in TENANT_TABLES:
            for statement in row_level_security_sql(table):
                op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for table in TENANT_TABLES:
            for statement in drop_row_level_security_sql(table):
                op.execute(statement)
    with op.batch_alter_table('inbound_sms', schema=None) as batch_op:
        batch_op.drop_index('ix_inbound_sms_tenant_id_profile_id')
        batch_op.drop_index('ix_inbound_sms_tenant_id_from_phone')
    op.drop_table('inbound_sms')
    with op.batch_alter_table('push_devices', schema=None) as batch_op:
        batch_op.drop_index('ix_push_devices_tenant_id_profile_id')
    op.drop_table('push_devices')
