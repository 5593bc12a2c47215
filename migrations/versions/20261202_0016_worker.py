"""Outbox rows note when their task was done: the in-process broker resends, when ``levier serve``
starts again, what a crash took before it was done.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbox_messages') as batch:
        batch.add_column(sa.Column('done_at', sa.DateTime(timezone=True), nullable=True))
    # What was sent before this revision is taken as done: nothing older is resent.
    op.execute('UPDATE outbox_messages SET done_at = sent_at WHERE sent_at IS NOT NULL')


def downgrade() -> None:
    with op.batch_alter_table('outbox_messages') as batch:
        batch.drop_column('done_at')
