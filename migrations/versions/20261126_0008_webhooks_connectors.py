"""Outbound webhooks (endpoints, events, deliveries, attempts) and inbound partner connectors
(connectors, their raw deliveries, and the platform route from a hook URL to its brand);
row-level security on each tenant table (PostgreSQL).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 01:33:56.890948
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from backend.core.tenancy import drop_row_level_security_sql, row_level_security_sql

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = [
    'connectors',
    'inbound_deliveries',
    'webhook_endpoints',
    'webhook_events',
    'webhook_deliveries',
    'webhook_attempts',
]


def upgrade() -> None:
    op.create_table('connectors',
    sa.Column('type', sa.Enum('qualifio', 'standard_webhooks', name='connector_type', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('secret_ciphertext', sa.Text(), nullable=False),
    sa.Column('secret_hint', sa.String(length=16), nullable=False),
    sa.Column('previous_secret_ciphertext', sa.Text(), nullable=True),
    sa.Column('secret_rotated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('mapping', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('event_name', sa.String(length=100), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['brands.id'], name=op.f('fk_connectors_tenant_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_connectors'))
    )
    op.create_table('hook_routes',
    sa.Column('connector_id', sa.Uuid(), nullable=False),
    sa.Column('brand_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_hook_routes_brand_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('connector_id', name=op.f('pk_hook_routes'))
    )
    op.create_index(op.f('ix_hook_routes_brand_id'), 'hook_routes', ['brand_id'], unique=False)
    op.create_table('webhook_endpoints',
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('description', sa.String(length=200), nullable=True),
    sa.Column('event_types', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('secret_ciphertext', sa.Text(), nullable=False),
    sa.Column('secret_hint', sa.String(length=16), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('consecutive_failures', sa.Integer(), nullable=False),
    sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('disabled_reason', sa.Text(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['brands.id'], name=op.f('fk_webhook_endpoints_tenant_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_webhook_endpoints'))
    )
    op.create_table('webhook_events',
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['brands.id'], name=op.f('fk_webhook_events_tenant_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_webhook_events'))
    )
    op.create_table('inbound_deliveries',
    sa.Column('connector_id', sa.Uuid(), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.Column('status', sa.Enum('received', 'processed', 'failed', name='inbound_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('result', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'connector_id'], ['connectors.tenant_id', 'connectors.id'], name=op.f('fk_inbound_deliveries_tenant_id_connectors'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['brands.id'], name=op.f('fk_inbound_deliveries_tenant_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_inbound_deliveries')),
    sa.UniqueConstraint('tenant_id', 'connector_id', 'external_id', name=op.f('uq_inbound_deliveries_tenant_id_connector_id_external_id'))
    )
    op.create_index('ix_inbound_deliveries_tenant_id_connector_id_id', 'inbound_deliveries', ['tenant_id', 'connector_id', 'id'], unique=False)
    op.create_table('webhook_deliveries',
    sa.Column('endpoint_id', sa.Uuid(), nullable=False),
    sa.Column('event_id', sa.Uuid(), nullable=False),
    sa.Column('event_type', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Enum('pending', 'succeeded', 'failed', name='webhook_delivery_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('attempt_count', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sending_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_status_code', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'endpoint_id'], ['webhook_endpoints.tenant_id', 'webhook_endpoints.id'], name=op.f('fk_webhook_deliveries_tenant_id_webhook_endpoints'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id', 'event_id'], ['webhook_events.tenant_id', 'webhook_events.id'], name=op.f('fk_webhook_deliveries_tenant_id_webhook_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['brands.id'], name=op.f('fk_webhook_deliveries_tenant_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_webhook_deliveries'))
    )
    op.create_index('ix_webhook_deliveries_tenant_id_endpoint_id_id', 'webhook_deliveries', ['tenant_id', 'endpoint_id', 'id'], unique=False)
    op.create_index('ix_webhook_deliveries_tenant_id_endpoint_id_status_id', 'webhook_deliveries', ['tenant_id', 'endpoint_id', 'status', 'id'], unique=False)
    op.create_table('webhook_attempts',
    sa.Column('delivery_id', sa.Uuid(), nullable=False),
    sa.Column('attempted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('succeeded', sa.Boolean(), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.Column('response_excerpt', sa.Text(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'delivery_id'], ['webhook_deliveries.tenant_id', 'webhook_deliveries.id'], name=op.f('fk_webhook_attempts_tenant_id_webhook_deliveries'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['brands.id'], name=op.f('fk_webhook_attempts_tenant_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_webhook_attempts'))
    )
    op.create_index('ix_webhook_attempts_tenant_id_delivery_id_id', 'webhook_attempts', ['tenant_id', 'delivery_id', 'id'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        for table in TENANT_TABLES:
            for statement in row_level_security_sql(table):
                op.execute(statement)



def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for table in TENANT_TABLES:
            for statement in drop_row_level_security_sql(table):
                op.execute(statement)
    op.drop_index('ix_webhook_attempts_tenant_id_delivery_id_id', table_name='webhook_attempts')
    op.drop_table('webhook_attempts')
    op.drop_index('ix_webhook_deliveries_tenant_id_endpoint_id_status_id', table_name='webhook_deliveries')
    op.drop_index('ix_webhook_deliveries_tenant_id_endpoint_id_id', table_name='webhook_deliveries')
    op.drop_table('webhook_deliveries')
    op.drop_index('ix_inbound_deliveries_tenant_id_connector_id_id', table_name='inbound_deliveries')
    op.drop_table('inbound_deliveries')
    op.drop_table('webhook_events')
    op.drop_table('webhook_endpoints')
    op.drop_index(op.f('ix_hook_routes_brand_id'), table_name='hook_routes')
    op.drop_table('hook_routes')
    op.drop_table('connectors')
