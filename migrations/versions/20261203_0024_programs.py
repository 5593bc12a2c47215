"""Programs: a brand's marketing objectives (stage, KPIs, owner, dates, status, moments of
truth, the template they came from, their audience segment); row-level security (PostgreSQL).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-03 18:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from backend.core.tenancy import drop_row_level_security_sql, row_level_security_sql

revision: str = '0024'
down_revision: str | None = '0023'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = ['programs']


def upgrade() -> None:
    op.create_table('programs',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('objective', sa.String(length=2000), nullable=False),
    sa.Column('stage', sa.Enum('attract', 'engage', 'convert', 'grow', 'retain', 'win_back', name='lifecycle_stage', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('kpis', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('owner_id', sa.Uuid(), nullable=True),
    sa.Column('start_date', sa.Date(), nullable=True),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('status', sa.Enum('draft', 'active', 'paused', 'ended', name='program_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('moments_of_truth', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('template_key', sa.String(length=64), nullable=True),
    sa.Column('audience_segment_id', sa.Uuid(), nullable=True),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_programs_owner_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id', 'audience_segment_id'], ['segments.tenant_id', 'segments.id'], name=op.f('fk_programs_tenant_id_segments')),
    sa.ForeignKeyConstraint(['tenant_id'], ['brands.id'], name=op.f('fk_programs_tenant_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_programs'))
    )
    with op.batch_alter_table('programs', schema=None) as batch_op:
        batch_op.create_index('ix_programs_tenant_id_audience_segment_id', ['tenant_id', 'audience_segment_id'], unique=False)
        batch_op.create_index('ix_programs_tenant_id_status', ['tenant_id', 'status'], unique=False)

    if op.get_bind().dialect.name == 'postgresql':
        for table in TENANT_TABLES:
            for statement in row_level_security_sql(table):
                op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for table in TENANT_TABLES:
            for statement in drop_row_level_security_sql(table):
                op.execute(statement)
    with op.batch_alter_table('programs', schema=None) as batch_op:
        batch_op.drop_index('ix_programs_tenant_id_status')
        batch_op.drop_index('ix_programs_tenant_id_audience_segment_id')

    op.drop_table('programs')
