"""Triggers raised when a profile field or attribute changes (the ``profile_change`` kind).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 03:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = ('event', 'date_attribute', 'inactivity', 'abandoned_cart')


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    with op.batch_alter_table('trigger_definitions', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_trigger_definitions_trigger_kind'), type_='check')
        batch_op.create_check_constraint('trigger_kind', _in('kind', [*KINDS, 'profile_change']))


def downgrade() -> None:
    op.execute("DELETE FROM trigger_definitions WHERE kind = 'profile_change'")
    with op.batch_alter_table('trigger_definitions', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_trigger_definitions_trigger_kind'), type_='check')
        batch_op.create_check_constraint('trigger_kind', _in('kind', KINDS))
