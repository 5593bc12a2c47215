"""Profiles: brand-defined attributes, profiles, identity keys, unique attribute values, merge
history, consent topics, the append-only consent history, orders and order lines; row-level
security on each (PostgreSQL).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 19:35:50.641743
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from backend.core.tenancy import drop_row_level_security_sql, row_level_security_sql

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = [
    'profile_attributes',
    'profiles',
    'profile_identities',
    'profile_unique_values',
    'profile_merges',
    'consent_topics',
    'consent_changes',
    'orders',
    'order_lines',
]


def upgrade() -> None:
    op.create_table('consent_topics',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['brands.id'], name=op.f('fk_consent_topics_tenant_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_consent_topics')),
    sa.UniqueConstraint('tenant_id', 'key', name=op.f('uq_consent_topics_tenant_id_key'))
    )
    op.create_table('profile_attributes',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('type', sa.Enum('text', 'number', 'boolean', 'date', 'datetime', 'enum', name='attribute_type', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('required', sa.Boolean(), nullable=False),
    sa.Column('unique', sa.Boolean(), nullable=False),
    sa.Column('default', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=True),
    sa.Column('options', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['brands.id'], name=op.f('fk_profile_attributes_tenant_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_profile_attributes')),
    sa.UniqueConstraint('tenant_id', 'key', name=op.f('uq_profile_attributes_tenant_id_key'))
    )
    op.create_table('profile_merges',
    sa.Column('survivor_id', sa.Uuid(), nullable=False),
    sa.Column('merged_id', sa.Uuid(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('keys', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('merged_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['brands.id'], name=op.f('fk_profile_merges_tenant_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_profile_merges'))
    )
    op.create_index('ix_profile_merges_tenant_id_merged_id', 'profile_merges', ['tenant_id', 'merged_id'])
    op.create_index('ix_profile_merges_tenant_id_survivor_id', 'profile_merges', ['tenant_id', 'survivor_id'])
    op.create_table('profiles',
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('first_name', sa.String(length=200), nullable=True),
    sa.Column('last_name', sa.String(length=200), nullable=True),
    sa.Column('birth_date', sa.Date(), nullable=True),
    sa.Column('locale', sa.String(length=16), nullable=True),
    sa.Column('time_zone', sa.String(length=64), nullable=True),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('preferred_store', sa.String(length=100), nullable=True),
    sa.Column('channel_appetency', sa.Enum('email', 'sms', 'push', 'post', 'phone', name='profile_channel', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('attributes', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('bounced', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('suppressed', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['brands.id'], name=op.f('fk_profiles_tenant_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_profiles'))
    )
    op.create_table('consent_changes',
    sa.Column('profile_id', sa.Uuid(), nullable=False),
    sa.Column('channel', sa.Enum('email', 'sms', 'push', 'post', 'phone', name='consent_channel', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('topic', sa.String(length=64), nullable=True),
    sa.Column('state', sa.Enum('granted', 'denied', 'unsubscribed', name='consent_state', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('proof', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=True),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'profile_id'], ['profiles.tenant_id', 'profiles.id'], name=op.f('fk_consent_changes_tenant_id_profiles'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['brands.id'], name=op.f('fk_consent_changes_tenant_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_consent_changes'))
    )
    op.create_index('ix_consent_changes_tenant_id_profile_id_occurred_at', 'consent_changes', ['tenant_id', 'profile_id', 'occurred_at'])
    op.create_table('orders',
    sa.Column('order_id', sa.String(length=100), nullable=False),
    sa.Column('profile_id', sa.Uuid(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('amount', sa.Numeric(precision=16, scale=4), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('store', sa.String(length=100), nullable=True),
    sa.Column('channel', sa.String(length=32), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'profile_id'], ['profiles.tenant_id', 'profiles.id'], name=op.f('fk_orders_tenant_id_profiles'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['brands.id'], name=op.f('fk_orders_tenant_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_orders')),
    sa.UniqueConstraint('tenant_id', 'order_id', name=op.f('uq_orders_tenant_id_order_id'))
    )
    op.create_index('ix_orders_tenant_id_profile_id_occurred_at', 'orders', ['tenant_id', 'profile_id', 'occurred_at'])
    op.create_table('profile_identities',
    sa.Column('kind', sa.String(length=80), nullable=False),
    sa.Column('value', sa.String(length=320), nullable=False),
    sa.Column('profile_id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'profile_id'], ['profiles.tenant_id', 'profiles.id'], name=op.f('fk_profile_identities_tenant_id_profiles'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['brands.id'], name=op.f('fk_profile_identities_tenant_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'kind', 'value', name=op.f('pk_profile_identities'))
    )
    op.create_index('ix_profile_identities_tenant_id_profile_id', 'profile_identities', ['tenant_id', 'profile_id'])
    op.create_table('profile_unique_values',
    sa.Column('attribute', sa.String(length=64), nullable=False),
    sa.Column('value', sa.String(length=400), nullable=False),
    sa.Column('profile_id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'profile_id'], ['profiles.tenant_id', 'profiles.id'], name=op.f('fk_profile_unique_values_tenant_id_profiles'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['brands.id'], name=op.f('fk_profile_unique_values_tenant_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'attribute', 'value', name=op.f('pk_profile_unique_values'))
    )
    op.create_index('ix_profile_unique_values_tenant_id_profile_id', 'profile_unique_values', ['tenant_id', 'profile_id'])
    op.create_table('order_lines',
    sa.Column('order_uuid', sa.Uuid(), nullable=False),
    sa.Column('product', sa.String(length=200), nullable=False),
    sa.Column('category', sa.String(length=200), nullable=True),
    sa.Column('quantity', sa.Numeric(precision=12, scale=3), nullable=False),
    sa.Column('price', sa.Numeric(precision=16, scale=4), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'order_uuid'], ['orders.tenant_id', 'orders.id'], name=op.f('fk_order_lines_tenant_id_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['brands.id'], name=op.f('fk_order_lines_tenant_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_order_lines'))
    )
    op.create_index('ix_order_lines_tenant_id_order_uuid', 'order_lines', ['tenant_id', 'order_uuid'])
    if op.get_bind().dialect.name == 'postgresql':
        for table in TENANT_TABLES:
            for statement in row_level_security_sql(table):
                op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for table in TENANT_TABLES:
            for statement in drop_row_level_security_sql(table):
                op.execute(statement)
    op.drop_index('ix_order_lines_tenant_id_order_uuid', table_name='order_lines')
    op.drop_table('order_lines')
    op.drop_index('ix_profile_unique_values_tenant_id_profile_id', table_name='profile_unique_values')
    op.drop_table('profile_unique_values')
    op.drop_index('ix_profile_identities_tenant_id_profile_id', table_name='profile_identities')
    op.drop_table('profile_identities')
    op.drop_index('ix_orders_tenant_id_profile_id_occurred_at', table_name='orders')
    op.drop_table('orders')
    op.drop_index('ix_consent_changes_tenant_id_profile_id_occurred_at', table_name='consent_changes')
    op.drop_table('consent_changes')
    op.drop_table('profiles')
    op.drop_index('ix_profile_merges_tenant_id_survivor_id', table_name='profile_merges')
    op.drop_index('ix_profile_merges_tenant_id_merged_id', table_name='profile_merges')
    op.drop_table('profile_merges')
    op.drop_table('profile_attributes')
    op.drop_table('consent_topics')
