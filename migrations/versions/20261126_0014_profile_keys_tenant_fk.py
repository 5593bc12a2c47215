"""Profile keys: identity keys and unique values lose their own foreign key to brands (the one to
profiles implies it; one check less per key an import writes).

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-26 10:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ['profile_identities', 'profile_unique_values']


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f'fk_{table}_tenant_id_brands', type_='foreignkey')


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.create_foreign_key(
                f'fk_{table}_tenant_id_brands', 'brands', ['tenant_id'], ['id'], ondelete='CASCADE'
            )
