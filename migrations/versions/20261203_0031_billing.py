"""Billing: prices synced from Stripe, billing accounts (agencies, and brands billed on their
own), Stripe events stored once, brand meters, meter reports (one per metered batch, unique by
its Billing Meter identifier) and usage warnings — platform tables, without row-level security
(an agency pays; Stripe's events name subscriptions, not brands). An index of the ledger's
``sent_at`` per brand, which metering counts by (created on every partition on PostgreSQL).

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-03 18:54:59
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0031'
down_revision: str | None = '0030'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('billing_prices',
    sa.Column('lookup_key', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.Enum('plan', 'metered', name='billing_price_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('stripe_price_id', sa.String(length=255), nullable=False),
    sa.Column('stripe_product_id', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('unit_amount', sa.BigInteger(), nullable=True),
    sa.Column('interval', sa.String(length=16), nullable=True),
    sa.Column('trial_days', sa.Integer(), nullable=True),
    sa.Column('entitlements', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('meter_event_name', sa.String(length=100), nullable=True),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('synced_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_prices')),
    sa.UniqueConstraint('lookup_key', name=op.f('uq_billing_prices_lookup_key'))
    )
    op.create_table('billing_stripe_events',
    sa.Column('id', sa.String(length=255), nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ordering_key', sa.String(length=255), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_stripe_events'))
    )
    with op.batch_alter_table('billing_stripe_events', schema=None) as batch_op:
        batch_op.create_index('ix_billing_stripe_events_ordering_key_created', ['ordering_key', 'created'], unique=False)
        batch_op.create_index('ix_billing_stripe_events_processed_at_received_at', ['processed_at', 'received_at'], unique=False)

    op.create_table('billing_usage_warnings',
    sa.Column('agency_id', sa.Uuid(), nullable=False),
    sa.Column('account_key', sa.String(length=64), nullable=False),
    sa.Column('period_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('metric', sa.String(length=32), nullable=False),
    sa.Column('threshold', sa.Integer(), nullable=False),
    sa.Column('used', sa.BigInteger(), nullable=False),
    sa.Column('limit', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], name=op.f('fk_billing_usage_warnings_agency_id_agencies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_usage_warnings')),
    sa.UniqueConstraint('agency_id', 'account_key', 'period_start', 'metric', 'threshold', name='uq_billing_usage_warnings_once')
    )
    op.create_table('billing_accounts',
    sa.Column('agency_id', sa.Uuid(), nullable=False),
    sa.Column('brand_id', sa.Uuid(), nullable=True),
    sa.Column('mode', sa.Enum('agency', 'subscription', 'customer', name='billing_mode', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('stripe_customer_id', sa.String(length=255), nullable=True),
    sa.Column('stripe_subscription_id', sa.String(length=255), nullable=True),
    sa.Column('plan_key', sa.String(length=200), nullable=True),
    sa.Column('status', sa.Enum('none', 'incomplete', 'incomplete_expired', 'trialing', 'active', 'past_due', 'unpaid', 'canceled', 'paused', name='billing_subscription_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('trial_end', sa.DateTime(timezone=True), nullable=True),
    sa.Column('current_period_end', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancel_at_period_end', sa.Boolean(), nullable=False),
    sa.Column('past_due_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('canceled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('metered', sa.Boolean(), nullable=False),
    sa.Column('metering_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('state_as_of', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_payment_failed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('trial_used', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], name=op.f('fk_billing_accounts_agency_id_agencies'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_billing_accounts_brand_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_accounts')),
    sa.UniqueConstraint('brand_id', name=op.f('uq_billing_accounts_brand_id')),
    sa.UniqueConstraint('stripe_subscription_id', name=op.f('uq_billing_accounts_stripe_subscription_id'))
    )
    with op.batch_alter_table('billing_accounts', schema=None) as batch_op:
        batch_op.create_index('ix_billing_accounts_agency_id', ['agency_id'], unique=False)
        batch_op.create_index('ix_billing_accounts_stripe_customer_id', ['stripe_customer_id'], unique=False)
        batch_op.create_index('uq_billing_accounts_agency_own', ['agency_id'], unique=True, postgresql_where=sa.text('brand_id IS NULL'), sqlite_where=sa.text('brand_id IS NULL'))

    op.create_table('billing_brand_meters',
    sa.Column('brand_id', sa.Uuid(), nullable=False),
    sa.Column('messages_until', sa.DateTime(timezone=True), nullable=False),
    sa.Column('profiles', sa.BigInteger(), nullable=False),
    sa.Column('profiles_counted_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_billing_brand_meters_brand_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('brand_id', name=op.f('pk_billing_brand_meters'))
    )
    op.create_table('billing_meter_reports',
    sa.Column('brand_id', sa.Uuid(), nullable=True),
    sa.Column('account_id', sa.Uuid(), nullable=True),
    sa.Column('metric', sa.String(length=32), nullable=False),
    sa.Column('event_name', sa.String(length=100), nullable=False),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('window_end', sa.DateTime(timezone=True), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.Column('identifier', sa.String(length=200), nullable=False),
    sa.Column('stripe_customer_id', sa.String(length=255), nullable=True),
    sa.Column('status', sa.Enum('pending', 'reported', 'unbilled', name='billing_report_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('sending_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reported_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['billing_accounts.id'], name=op.f('fk_billing_meter_reports_account_id_billing_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_billing_meter_reports_brand_id_brands'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_meter_reports')),
    sa.UniqueConstraint('identifier', name=op.f('uq_billing_meter_reports_identifier'))
    )
    with op.batch_alter_table('billing_meter_reports', schema=None) as batch_op:
        batch_op.create_index('ix_billing_meter_reports_account_id_metric_window_start', ['account_id', 'metric', 'window_start'], unique=False)
        batch_op.create_index('ix_billing_meter_reports_brand_id_metric_window_start', ['brand_id', 'metric', 'window_start'], unique=False)
        batch_op.create_index('ix_billing_meter_reports_status_window_start', ['status', 'window_start'], unique=False)

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index('ix_messages_tenant_id_sent_at', ['tenant_id', 'sent_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_tenant_id_sent_at')

    with op.batch_alter_table('billing_meter_reports', schema=None) as batch_op:
        batch_op.drop_index('ix_billing_meter_reports_status_window_start')
        batch_op.drop_index('ix_billing_meter_reports_brand_id_metric_window_start')
        batch_op.drop_index('ix_billing_meter_reports_account_id_metric_window_start')

    op.drop_table('billing_meter_reports')
    op.drop_table('billing_brand_meters')
    with op.batch_alter_table('billing_accounts', schema=None) as batch_op:
        batch_op.drop_index('uq_billing_accounts_agency_own', postgresql_where=sa.text('brand_id IS NULL'), sqlite_where=sa.text('brand_id IS NULL'))
        batch_op.drop_index('ix_billing_accounts_stripe_customer_id')
        batch_op.drop_index('ix_billing_accounts_agency_id')

    op.drop_table('billing_accounts')
    op.drop_table('billing_usage_warnings')
    with op.batch_alter_table('billing_stripe_events', schema=None) as batch_op:
        batch_op.drop_index('ix_billing_stripe_events_processed_at_received_at')
        batch_op.drop_index('ix_billing_stripe_events_ordering_key_created')

    op.drop_table('billing_stripe_events')
    op.drop_table('billing_prices')
