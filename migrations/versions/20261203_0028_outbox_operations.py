"""Outbox operations: a row carries the trace context and request id of the work that enqueued
it (``headers``) and notes when its job failed for good (``failed_at``); partial indexes read the
rows the broker holds unfinished and the failed ones (backlog gauges, re-drives, listings).

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-03 18:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0028"
down_revision: str | tuple[str, ...] | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
UNFINISHED = "sent_at IS NOT NULL AND done_at IS NULL"
FAILED = "failed_at IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("outbox_messages") as batch:
        batch.add_column(sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("headers", JSON, nullable=True))
    op.create_index(
        "ix_outbox_messages_unfinished",
        "outbox_messages",
        ["sent_at"],
        postgresql_where=sa.text(UNFINISHED),
        sqlite_where=sa.text(UNFINISHED),
    )
    op.create_index(
        "ix_outbox_messages_failed_at",
        "outbox_messages",
        ["failed_at"],
        postgresql_where=sa.text(FAILED),
        sqlite_where=sa.text(FAILED),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_messages_failed_at", table_name="outbox_messages")
    op.drop_index("ix_outbox_messages_unfinished", table_name="outbox_messages")
    with op.batch_alter_table("outbox_messages") as batch:
        batch.drop_column("headers")
        batch.drop_column("failed_at")
