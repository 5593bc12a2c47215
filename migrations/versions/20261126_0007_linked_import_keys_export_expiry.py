"""Linked-table imports (the ``linked`` import kind, a row key per linked row), idempotent
uploads (the ``Idempotency-Key`` kept on the import job, unique per brand) and export expiry
(the ``expired`` status, when and why).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 01:30:33.879479
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IMPORT_KINDS = ('profiles', 'orders')
EXPORT_STATUSES = ('queued', 'running', 'succeeded', 'failed')


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    with op.batch_alter_table('imports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('linked_table', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('idempotency_key', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('request_hash', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(op.f('uq_imports_tenant_id_idempotency_key'), ['tenant_id', 'idempotency_key'])
        batch_op.drop_constraint(op.f('ck_imports_import_kind'), type_='check')
        batch_op.create_check_constraint('import_kind', _in('kind', [*IMPORT_KINDS, 'linked']))

    op.add_column('linked_rows', sa.Column('key', sa.String(length=200), nullable=True))
    op.create_index('ix_linked_rows_tenant_id_table_id_key', 'linked_rows', ['tenant_id', 'table_id', 'key'], unique=True)

    with op.batch_alter_table('profile_exports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('expired_reason', sa.String(length=200), nullable=True))
        batch_op.drop_constraint(op.f('ck_profile_exports_export_status'), type_='check')
        batch_op.create_check_constraint('export_status', _in('status', [*EXPORT_STATUSES, 'expired']))


def downgrade() -> None:
    op.execute("DELETE FROM export_chunks WHERE export_id IN (SELECT id FROM profile_exports WHERE status = 'expired')")
    op.execute("DELETE FROM profile_exports WHERE status = 'expired'")
    with op.batch_alter_table('profile_exports', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_profile_exports_export_status'), type_='check')
        batch_op.create_check_constraint('export_status', _in('status', EXPORT_STATUSES))
        batch_op.drop_column('expired_reason')
        batch_op.drop_column('expires_at')

    op.drop_index('ix_linked_rows_tenant_id_table_id_key', table_name='linked_rows')
    op.drop_column('linked_rows', 'key')

    op.execute("DELETE FROM imports WHERE kind = 'linked'")
    with op.batch_alter_table('imports', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_imports_import_kind'), type_='check')
        batch_op.create_check_constraint('import_kind', _in('kind', IMPORT_KINDS))
        batch_op.drop_constraint(op.f('uq_imports_tenant_id_idempotency_key'), type_='unique')
        batch_op.drop_column('request_hash')
        batch_op.drop_column('idempotency_key')
        batch_op.drop_column('linked_table')
