"""RFM: per-brand settings, every run, and the scores of each run; row-level security on each
(PostgreSQL).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 04:03:30.355535
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from backend.core.tenancy import drop_row_level_security_sql, row_level_security_sql

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = ['rfm_settings', 'rfm_runs', 'rfm_scores']


def upgrade() -> None:
    op.create_table('rfm_runs',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.Enum('purchase', 'engagement', name='rfm_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('as_of', sa.DateTime(timezone=True), nullable=False),
    sa.Column('window_days', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('queued', 'running', 'succeeded', 'failed', name='rfm_run_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('method', sa.Enum('quintiles', 'thresholds', name='rfm_method', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('cut_points', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=True),
    sa.Column('scored_count', sa.Integer(), nullable=False),
    sa.Column('changed_count', sa.Integer(), nullable=False),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('scheduled_for', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['brands.id'], name=op.f('fk_rfm_runs_tenant_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_rfm_runs')),
    sa.UniqueConstraint('tenant_id', 'kind', 'scheduled_for', name=op.f('uq_rfm_runs_tenant_id_kind_scheduled_for'))
    )
    with op.batch_alter_table('rfm_runs', schema=None) as batch_op:
        batch_op.create_index('ix_rfm_runs_tenant_id_kind_finished_at', ['tenant_id', 'kind', 'finished_at'], unique=False)

    op.create_table('rfm_settings',
    sa.Column('purchase_window_days', sa.Integer(), nullable=False),
    sa.Column('engagement_window_days', sa.Integer(), nullable=False),
    sa.Column('engagement_events', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('schedule', sa.Enum('monthly', 'weekly', 'daily', 'off', name='rfm_schedule', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('thresholds', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=True),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['brands.id'], name=op.f('fk_rfm_settings_tenant_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', name=op.f('pk_rfm_settings'))
    )
    op.create_table('rfm_scores',
    sa.Column('run_id', sa.Uuid(), nullable=False),
    sa.Column('profile_id', sa.Uuid(), nullable=False),
    sa.Column('recency_days', sa.Integer(), nullable=False),
    sa.Column('frequency', sa.Integer(), nullable=False),
    sa.Column('monetary', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('r', sa.SmallInteger(), nullable=False),
    sa.Column('f', sa.SmallInteger(), nullable=False),
    sa.Column('m', sa.SmallInteger(), nullable=False),
    sa.Column('segment', sa.String(length=40), nullable=False),
    sa.Column('previous_segment', sa.String(length=40), nullable=True),
    sa.Column('direction', sa.Enum('up', 'down', 'same', name='rfm_direction', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'run_id', 'profile_id', name=op.f('pk_rfm_scores'))
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
    op.drop_table('rfm_scores')
    op.drop_table('rfm_settings')
    with op.batch_alter_table('rfm_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_rfm_runs_tenant_id_kind_finished_at')

    op.drop_table('rfm_runs')
