"""Scenarios: definitions and their versions, the per-profile entry memory (re-entry policy) and
the entry keys handled (an occurrence starts one journey), journeys (also the due work of waits)
and their steps; row-level security on each (PostgreSQL).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-03 18:17:16.848535
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from backend.core.tenancy import drop_row_level_security_sql, row_level_security_sql

revision: str = '0027'
down_revision: str | tuple[str, ...] | None = '0026'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = [
    'scenarios',
    'scenario_versions',
    'scenario_entries',
    'scenario_entry_keys',
    'scenario_journeys',
    'scenario_steps',
]


def upgrade() -> None:
    op.create_table('scenarios',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.String(length=1000), nullable=True),
    sa.Column('program_id', sa.Uuid(), nullable=True),
    sa.Column('status', sa.Enum('draft', 'active', 'paused', 'archived', name='scenario_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('live_version', sa.Integer(), nullable=True),
    sa.Column('draft_version', sa.Integer(), nullable=True),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['brands.id'], name=op.f('fk_scenarios_tenant_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_scenarios'))
    )
    with op.batch_alter_table('scenarios', schema=None) as batch_op:
        batch_op.create_index('ix_scenarios_tenant_id_program_id', ['tenant_id', 'program_id'], unique=False)

    op.create_table('scenario_entries',
    sa.Column('scenario_id', sa.Uuid(), nullable=False),
    sa.Column('profile_id', sa.Uuid(), nullable=False),
    sa.Column('last_entered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('entries', sa.Integer(), nullable=False),
    sa.Column('journey_id', sa.Uuid(), nullable=True),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'profile_id'], ['profiles.tenant_id', 'profiles.id'], name=op.f('fk_scenario_entries_tenant_id_profiles'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id', 'scenario_id'], ['scenarios.tenant_id', 'scenarios.id'], name=op.f('fk_scenario_entries_tenant_id_scenarios'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['brands.id'], name=op.f('fk_scenario_entries_tenant_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'scenario_id', 'profile_id', name=op.f('pk_scenario_entries'))
    )
    op.create_table('scenario_entry_keys',
    sa.Column('scenario_id', sa.Uuid(), nullable=False),
    sa.Column('entry_key', sa.String(length=300), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'scenario_id'], ['scenarios.tenant_id', 'scenarios.id'], name=op.f('fk_scenario_entry_keys_tenant_id_scenarios'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['brands.id'], name=op.f('fk_scenario_entry_keys_tenant_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'scenario_id', 'entry_key', name=op.f('pk_scenario_entry_keys'))
    )
    op.create_table('scenario_journeys',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('scenario_id', sa.Uuid(), nullable=False),
    sa.Column('version_id', sa.Uuid(), nullable=False),
    sa.Column('profile_id', sa.Uuid(), nullable=False),
    sa.Column('state', sa.Enum('ready', 'waiting', 'completed', 'converted', 'exited', 'failed', name='journey_state', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('node_id', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('entered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('wait_event', sa.String(length=100), nullable=True),
    sa.Column('wait_message_id', sa.Uuid(), nullable=True),
    sa.Column('wait_outcome', sa.String(length=32), nullable=True),
    sa.Column('entry_key', sa.String(length=300), nullable=False),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'profile_id'], ['profiles.tenant_id', 'profiles.id'], name=op.f('fk_scenario_journeys_tenant_id_profiles'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id', 'scenario_id'], ['scenarios.tenant_id', 'scenarios.id'], name=op.f('fk_scenario_journeys_tenant_id_scenarios'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['brands.id'], name=op.f('fk_scenario_journeys_tenant_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_scenario_journeys'))
    )
    with op.batch_alter_table('scenario_journeys', schema=None) as batch_op:
        batch_op.create_index('ix_scenario_journeys_tenant_id_profile_id', ['tenant_id', 'profile_id'], unique=False)
        batch_op.create_index('ix_scenario_journeys_tenant_id_scenario_id_entry_key', ['tenant_id', 'scenario_id', 'entry_key'], unique=False)
        batch_op.create_index('ix_scenario_journeys_tenant_id_scenario_id_state', ['tenant_id', 'scenario_id', 'state'], unique=False)
        batch_op.create_index('ix_scenario_journeys_tenant_id_state_due_at', ['tenant_id', 'state', 'due_at'], unique=False)
        batch_op.create_index('ix_scenario_journeys_tenant_id_version_id_state', ['tenant_id', 'version_id', 'state'], unique=False)

    op.create_table('scenario_versions',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('scenario_id', sa.Uuid(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('draft', 'live', 'finishing', 'retired', name='scenario_version_state', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('graph', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('entry_type', sa.String(length=64), nullable=True),
    sa.Column('activated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'scenario_id'], ['scenarios.tenant_id', 'scenarios.id'], name=op.f('fk_scenario_versions_tenant_id_scenarios'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['brands.id'], name=op.f('fk_scenario_versions_tenant_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_scenario_versions')),
    sa.UniqueConstraint('tenant_id', 'scenario_id', 'number', name=op.f('uq_scenario_versions_tenant_id_scenario_id_number'))
    )
    with op.batch_alter_table('scenario_versions', schema=None) as batch_op:
        batch_op.create_index('ix_scenario_versions_tenant_id_state_entry_type', ['tenant_id', 'state', 'entry_type'], unique=False)

    op.create_table('scenario_steps',
    sa.Column('journey_id', sa.Uuid(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Uuid(), nullable=False),
    sa.Column('node_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('outcome', sa.String(length=32), nullable=True),
    sa.Column('message_id', sa.Uuid(), nullable=True),
    sa.Column('detail', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=True),
    sa.Column('deferred', sa.Boolean(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'journey_id'], ['scenario_journeys.tenant_id', 'scenario_journeys.id'], name=op.f('fk_scenario_steps_tenant_id_scenario_journeys'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['brands.id'], name=op.f('fk_scenario_steps_tenant_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'journey_id', 'seq', name=op.f('pk_scenario_steps'))
    )
    with op.batch_alter_table('scenario_steps', schema=None) as batch_op:
        batch_op.create_index('ix_scenario_steps_tenant_id_version_id_node_id', ['tenant_id', 'version_id', 'node_id'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        for table in TENANT_TABLES:
            for statement in row_level_security_sql(table):
                op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for table in TENANT_TABLES:
            for statement in drop_row_level_security_sql(table):
                op.execute(statement)
    with op.batch_alter_table('scenario_steps', schema=None) as batch_op:
        batch_op.drop_index('ix_scenario_steps_tenant_id_version_id_node_id')

    op.drop_table('scenario_steps')
    with op.batch_alter_table('scenario_versions', schema=None) as batch_op:
        batch_op.drop_index('ix_scenario_versions_tenant_id_state_entry_type')

    op.drop_table('scenario_versions')
    with op.batch_alter_table('scenario_journeys', schema=None) as batch_op:
        batch_op.drop_index('ix_scenario_journeys_tenant_id_version_id_state')
        batch_op.drop_index('ix_scenario_journeys_tenant_id_state_due_at')
        batch_op.drop_index('ix_scenario_journeys_tenant_id_scenario_id_state')
        batch_op.drop_index('ix_scenario_journeys_tenant_id_scenario_id_entry_key')
        batch_op.drop_index('ix_scenario_journeys_tenant_id_profile_id')

    op.drop_table('scenario_journeys')
    op.drop_table('scenario_entry_keys')
    op.drop_table('scenario_entries')
    with op.batch_alter_table('scenarios', schema=None) as batch_op:
        batch_op.drop_index('ix_scenarios_tenant_id_program_id')

    op.drop_table('scenarios')
