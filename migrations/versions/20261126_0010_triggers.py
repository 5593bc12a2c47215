"""Triggers: definitions per brand, their scan watermarks, occurrences (unique per type and
dedupe key) and live carts timed for abandonment; row-level security on each (PostgreSQL).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 01:35:38.779934
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from backend.core.tenancy import drop_row_level_security_sql, row_level_security_sql

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = ['trigger_definitions', 'trigger_carts', 'trigger_occurrences', 'trigger_watermarks']


def upgrade() -> None:
    op.create_table('trigger_definitions',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.Enum('event', 'date_attribute', 'inactivity', 'abandoned_cart', name='trigger_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('settings', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['brands.id'], name=op.f('fk_trigger_definitions_tenant_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_trigger_definitions')),
    sa.UniqueConstraint('tenant_id', 'key', name=op.f('uq_trigger_definitions_tenant_id_key'))
    )
    op.create_table('trigger_carts',
    sa.Column('cart_id', sa.String(length=200), nullable=False),
    sa.Column('profile_id', sa.Uuid(), nullable=False),
    sa.Column('cart_updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'profile_id'], ['profiles.tenant_id', 'profiles.id'], name=op.f('fk_trigger_carts_tenant_id_profiles'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['brands.id'], name=op.f('fk_trigger_carts_tenant_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'cart_id', name=op.f('pk_trigger_carts'))
    )
    op.create_index('ix_trigger_carts_tenant_id_profile_id', 'trigger_carts', ['tenant_id', 'profile_id'], unique=False)
    op.create_table('trigger_occurrences',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('profile_id', sa.Uuid(), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('dedupe_key', sa.String(length=300), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'profile_id'], ['profiles.tenant_id', 'profiles.id'], name=op.f('fk_trigger_occurrences_tenant_id_profiles'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['brands.id'], name=op.f('fk_trigger_occurrences_tenant_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_trigger_occurrences')),
    sa.UniqueConstraint('tenant_id', 'type', 'dedupe_key', name=op.f('uq_trigger_occurrences_tenant_id_type_dedupe_key'))
    )
    op.create_index('ix_trigger_occurrences_tenant_id_occurred_at', 'trigger_occurrences', ['tenant_id', 'occurred_at'], unique=False)
    op.create_index('ix_trigger_occurrences_tenant_id_profile_id_id', 'trigger_occurrences', ['tenant_id', 'profile_id', 'id'], unique=False)
    op.create_table('trigger_watermarks',
    sa.Column('definition_id', sa.Uuid(), nullable=False),
    sa.Column('scanned_until', sa.DateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'definition_id'], ['trigger_definitions.tenant_id', 'trigger_definitions.id'], name=op.f('fk_trigger_watermarks_tenant_id_trigger_definitions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['brands.id'], name=op.f('fk_trigger_watermarks_tenant_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'definition_id', name=op.f('pk_trigger_watermarks'))
    )
    if op.get_bind().dialect.name == 'postgresql':
        for table in TENANT_TABLES:
            for statement in row_level_security_sql(table):
                op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for table in TENANT_TABLES:
            for statement in drop_row_level_security_sql(table):
                op.execute(statement)
    op.drop_table('trigger_watermarks')
    op.drop_index('ix_trigger_occurrences_tenant_id_profile_id_id', table_name='trigger_occurrences')
    op.drop_index('ix_trigger_occurrences_tenant_id_occurred_at', table_name='trigger_occurrences')
    op.drop_table('trigger_occurrences')
    op.drop_index('ix_trigger_carts_tenant_id_profile_id', table_name='trigger_carts')
    op.drop_table('trigger_carts')
    op.drop_table('trigger_definitions')
