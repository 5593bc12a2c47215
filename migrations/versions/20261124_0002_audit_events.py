"""Audit log: one row per write, kept when its agency or brand is deleted.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 13:48:40.334842
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')


def upgrade() -> None:
    op.create_table('audit_events',
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=120), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('object_type', sa.String(length=64), nullable=False),
    sa.Column('object_id', sa.String(length=200), nullable=False),
    sa.Column('agency_id', sa.Uuid(), nullable=True),
    sa.Column('brand_id', sa.Uuid(), nullable=True),
    sa.Column('changes', JSON, nullable=False),
    sa.Column('request_id', sa.String(length=128), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    op.create_index('ix_audit_events_agency_id_id', 'audit_events', ['agency_id', 'id'])
    op.create_index('ix_audit_events_brand_id_id', 'audit_events', ['brand_id', 'id'])


def downgrade() -> None:
    op.drop_index('ix_audit_events_brand_id_id', table_name='audit_events')
    op.drop_index('ix_audit_events_agency_id_id', table_name='audit_events')
    op.drop_table('audit_events')
