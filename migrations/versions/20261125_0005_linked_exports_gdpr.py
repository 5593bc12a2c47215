"""Linked tables (typed, around the profile) with rows and their append-only versions; profile
exports written in chunks by a job; the GDPR suppression list (identifiers of erased people as
keyed hashes); row-level security on each (PostgreSQL).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 20:32:37.549941
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from backend.core.tenancy import drop_row_level_security_sql, row_level_security_sql

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = [
    'linked_tables',
    'linked_rows',
    'linked_row_versions',
    'profile_exports',
    'export_chunks',
    'suppressions',
]


def upgrade() -> None:
    op.create_table('linked_tables',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('columns', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['brands.id'], name=op.f('fk_linked_tables_tenant_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_linked_tables')),
    sa.UniqueConstraint('tenant_id', 'key', name=op.f('uq_linked_tables_tenant_id_key'))
    )
    op.create_table('profile_exports',
    sa.Column('format', sa.Enum('csv', 'ndjson', name='export_format', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('filter', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('fields', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('status', sa.Enum('queued', 'running', 'succeeded', 'failed', name='export_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('row_count', sa.Integer(), nullable=False),
    sa.Column('byte_count', sa.BigInteger(), nullable=False),
    sa.Column('chunk_count', sa.Integer(), nullable=False),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['brands.id'], name=op.f('fk_profile_exports_tenant_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_profile_exports'))
    )
    op.create_table('suppressions',
    sa.Column('kind', sa.String(length=80), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('erased_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['brands.id'], name=op.f('fk_suppressions_tenant_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'kind', 'hash', name=op.f('pk_suppressions'))
    )
    op.create_table('export_chunks',
    sa.Column('export_id', sa.Uuid(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'export_id'], ['profile_exports.tenant_id', 'profile_exports.id'], name=op.f('fk_export_chunks_tenant_id_profile_exports'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['brands.id'], name=op.f('fk_export_chunks_tenant_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'export_id', 'seq', name=op.f('pk_export_chunks'))
    )
    op.create_table('linked_row_versions',
    sa.Column('row_id', sa.Uuid(), nullable=False),
    sa.Column('table_id', sa.Uuid(), nullable=False),
    sa.Column('profile_id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('operation', sa.Enum('created', 'updated', 'merged', 'deleted', name='linked_row_operation', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('values', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'profile_id'], ['profiles.tenant_id', 'profiles.id'], name=op.f('fk_linked_row_versions_tenant_id_profiles'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id', 'table_id'], ['linked_tables.tenant_id', 'linked_tables.id'], name=op.f('fk_linked_row_versions_tenant_id_linked_tables'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['brands.id'], name=op.f('fk_linked_row_versions_tenant_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_linked_row_versions')),
    sa.UniqueConstraint('tenant_id', 'row_id', 'version', name=op.f('uq_linked_row_versions_tenant_id_row_id_version'))
    )
    op.create_index('ix_linked_row_versions_tenant_id_profile_id', 'linked_row_versions', ['tenant_id', 'profile_id'])
    op.create_index('ix_linked_row_versions_tenant_id_table_id', 'linked_row_versions', ['tenant_id', 'table_id'])
    op.create_table('linked_rows',
    sa.Column('table_id', sa.Uuid(), nullable=False),
    sa.Column('profile_id', sa.Uuid(), nullable=False),
    sa.Column('values', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'profile_id'], ['profiles.tenant_id', 'profiles.id'], name=op.f('fk_linked_rows_tenant_id_profiles'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id', 'table_id'], ['linked_tables.tenant_id', 'linked_tables.id'], name=op.f('fk_linked_rows_tenant_id_linked_tables'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['brands.id'], name=op.f('fk_linked_rows_tenant_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_linked_rows'))
    )
    op.create_index('ix_linked_rows_tenant_id_profile_id_table_id', 'linked_rows', ['tenant_id', 'profile_id', 'table_id'])
    op.create_index('ix_linked_rows_tenant_id_table_id_id', 'linked_rows', ['tenant_id', 'table_id', 'id'])
    if op.get_bind().dialect.name == 'postgresql':
        for table in TENANT_TABLES:
            for statement in row_level_security_sql(table):
                op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for table in TENANT_TABLES:
            for statement in drop_row_level_security_sql(table):
                op.execute(statement)
    op.drop_index('ix_linked_rows_tenant_id_table_id_id', table_name='linked_rows')
    op.drop_index('ix_linked_rows_tenant_id_profile_id_table_id', table_name='linked_rows')
    op.drop_table('linked_rows')
    op.drop_index('ix_linked_row_versions_tenant_id_table_id', table_name='linked_row_versions')
    op.drop_index('ix_linked_row_versions_tenant_id_profile_id', table_name='linked_row_versions')
    op.drop_table('linked_row_versions')
    op.drop_table('export_chunks')
    op.drop_table('suppressions')
    op.drop_table('profile_exports')
    op.drop_table('linked_tables')
