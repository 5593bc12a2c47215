"""Messaging tracking: message sightings (first open, clicks, unsubscribes, provider reports,
claimed once then counted), soft-bounce runs per address, and the brand of each provider
account's callback URL (a platform table); row-level security on each
(PostgreSQL).

Revision ID: 0023
Revises: 0020, 0022 (joins the messaging heads merged here; the integrator re-chains)
Create Date: 2026-12-03 14:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from backend.core.tenancy import drop_row_level_security_sql, row_level_security_sql

revision: str = '0023'
down_revision: str | tuple[str, ...] | None = '0022'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = ['message_sightings', 'soft_bounce_runs']


def upgrade() -> None:
    op.create_table('message_sightings',
    sa.Column('message_id', sa.Uuid(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('first_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['brands.id'], name=op.f('fk_message_sightings_tenant_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'message_id', 'key', name=op.f('pk_message_sightings'))
    )
    op.create_table('soft_bounce_runs',
    sa.Column('profile_id', sa.Uuid(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('last_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'profile_id'], ['profiles.tenant_id', 'profiles.id'], name=op.f('fk_soft_bounce_runs_tenant_id_profiles'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['brands.id'], name=op.f('fk_soft_bounce_runs_tenant_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'profile_id', 'channel', name=op.f('pk_soft_bounce_runs'))
    )
    op.create_table('messaging_hook_routes',
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('brand_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_messaging_hook_routes_brand_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_messaging_hook_routes'))
    )
    with op.batch_alter_table('messaging_hook_routes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_messaging_hook_routes_brand_id'), ['brand_id'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        for table in TENANT_TABLES:
            for statement in row_level_security_sql(table):
                op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for table in TENANT_TABLES:
            for statement in drop_row_level_security_sql(table):
                op.execute(statement)
    with op.batch_alter_table('messaging_hook_routes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_messaging_hook_routes_brand_id'))
    op.drop_table('messaging_hook_routes')
    op.drop_table('soft_bounce_runs')
    op.drop_table('message_sightings')
