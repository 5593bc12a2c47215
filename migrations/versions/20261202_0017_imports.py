"""Imports: how an uploaded file reads (compression, encoding, delimiter), and when its file and
rejected rows were purged.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('imports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('compression', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('encoding', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('delimiter', sa.String(length=1), nullable=True))
        batch_op.add_column(sa.Column('purged_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('imports', schema=None) as batch_op:
        batch_op.drop_column('purged_at')
        batch_op.drop_column('delimiter')
        batch_op.drop_column('encoding')
        batch_op.drop_column('compression')
