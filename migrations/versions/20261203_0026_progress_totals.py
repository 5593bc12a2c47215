"""Progress totals: the lines of an import's file (counted as it is stored) and the profiles an
export's filter kept (counted when its job starts), so that how far long work got can be told
as done out of total.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-03 18:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0026'
down_revision: str | tuple[str, ...] | None = '0025'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('imports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('total_lines', sa.BigInteger(), nullable=True))
    with op.batch_alter_table('profile_exports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('total_rows', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('profile_exports', schema=None) as batch_op:
        batch_op.drop_column('total_rows')
    with op.batch_alter_table('imports', schema=None) as batch_op:
        batch_op.drop_column('total_lines')
