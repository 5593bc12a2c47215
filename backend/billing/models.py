"""Billing: Stripe is the system of record for money, Levier for usage and entitlements.

Every table here is a platform table (no ``tenant_id``, no row-level security): an agency is the
paying customer, Stripe's webhooks name subscriptions and customers rather than brands, and the
jobs that meter usage and apply Stripe's events work across the brands of an agency. Rows that
belong to one brand carry ``brand_id``; every read names the agency or the brand it is for, and
the routes check the caller's reach on it before any of them runs.

- ``billing_prices``: the Stripe prices Levier sells, synced from Stripe by lookup key (never by
  id): plans, with the entitlements their product's metadata grants, and metered prices.
- ``billing_accounts``: what is billed, one per agency and one per brand billed on its own (its
  own subscription under the agency's customer, or a customer of its own), with the state of
  its Stripe subscription as the webhooks told it.
- ``billing_stripe_events``: every Stripe event received, stored once by its id, applied in
  order per subscription.
- ``billing_brand_meters``: per brand, how far its sends were metered and how many profiles it
  stores.
- ``billing_meter_reports``: what Levier counted, batch by batch, and whether Stripe took it
  (each batch a Billing Meter event whose ``identifier`` is the batch's).
- ``billing_usage_warnings``: the 80 % and 100 % thresholds crossed, once per period.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any
from uuid import UUID

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import Base, IdMixin, JSONType, TimestampMixin, string_enum, utcnow


class PriceKind(StrEnum):
    PLAN = "plan"  # a subscription's base price: it grants the plan's entitlements
    METERED = "metered"  # a usage price on a Billing Meter (messages, profiles)


class BillingMode(StrEnum):
    """How a brand is billed (the agency's own account is ``agency``)."""

    AGENCY = "agency"  # on the agency's subscription, sharing its plan's entitlements
    SUBSCRIPTION = "subscription"  # a subscription of its own under the agency's customer
    CUSTOMER = "customer"  # a Stripe customer of its own, and its own subscription


class SubscriptionStatus(StrEnum):
    """Stripe's subscription statuses, and ``none`` before the first subscription."""

    NONE = "none"
    INCOMPLETE = "incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired"
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    UNPAID = "unpaid"
    CANCELED = "canceled"
    PAUSED = "paused"


# A subscription that exists and bills (or will bill): the account governs its brands.
LIVE_STATUSES = frozenset(
    {
        SubscriptionStatus.TRIALING,
        SubscriptionStatus.ACTIVE,
        SubscriptionStatus.PAST_DUE,
        SubscriptionStatus.UNPAID,
        SubscriptionStatus.PAUSED,
    }
)


class ReportStatus(StrEnum):
    PENDING = "pending"  # counted, not yet taken by Stripe
    REPORTED = "reported"  # Stripe took the meter event
    UNBILLED = "unbilled"  # counted only: no customer or subscription to bill it to


class BillingPrice(IdMixin, TimestampMixin, Base):
    """A Stripe price Levier sells, as last synced."""

    __tablename__ = "billing_prices"

    lookup_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[PriceKind] = mapped_column(string_enum(PriceKind, "billing_price_kind"))
    stripe_price_id: Mapped[str] = mapped_column(String(255))
    stripe_product_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    unit_amount: Mapped[int | None] = mapped_column(BigInteger)  # in the currency's minor unit
    interval: Mapped[str | None] = mapped_column(String(16))
    trial_days: Mapped[int | None]
    # What a plan grants (see backend.billing.plans.Entitlements); {} for a metered price.
    entitlements: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # A metered price's Billing Meter event name (e.g. `levier_messages_email`).
    meter_event_name: Mapped[str | None] = mapped_column(String(100))
    is_default: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    synced_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    @property
    def plan(self) -> str:
        return self.lookup_key


class BillingAccount(IdMixin, TimestampMixin, Base):
    """What is billed: an agency (``brand_id`` null) or one brand billed on its own."""

    __tablename__ = "billing_accounts"
    __table_args__ = (
        # One account of the agency's own.
        Index(
            "uq_billing_accounts_agency_own",
            "agency_id",
            unique=True,
            postgresql_where=text("brand_id IS NULL"),
            sqlite_where=text("brand_id IS NULL"),
        ),
        Index("ix_billing_accounts_agency_id", "agency_id"),
        Index("ix_billing_accounts_stripe_customer_id", "stripe_customer_id"),
    )

    agency_id: Mapped[UUID] = mapped_column(ForeignKey("agencies.id", ondelete="CASCADE"))
    brand_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("brands.id", ondelete="CASCADE"), unique=True
    )
    mode: Mapped[BillingMode] = mapped_column(string_enum(BillingMode, "billing_mode"))
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255))
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    plan_key: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[SubscriptionStatus] = mapped_column(
        string_enum(SubscriptionStatus, "billing_subscription_status"),
        default=SubscriptionStatus.NONE,
    )
    trial_end: Mapped[dt.datetime | None]
    current_period_end: Mapped[dt.datetime | None]
    cancel_at_period_end: Mapped[bool] = mapped_column(default=False)
    past_due_since: Mapped[dt.datetime | None]
    canceled_at: Mapped[dt.datetime | None]
    # Its subscription carries the metered prices (one subscription per customer does).
    metered: Mapped[bool] = mapped_column(default=False)
    # Sends from this moment on are billed to its customer (the subscription's start).
    metering_since: Mapped[dt.datetime | None]
    # Stripe's `created` of the last event applied: an older event changes nothing.
    state_as_of: Mapped[dt.datetime | None]
    # The latest invoice paid / payment failed, as Stripe dated them.
    last_paid_at: Mapped[dt.datetime | None]
    last_payment_failed_at: Mapped[dt.datetime | None]
    # A trial was started once: a second checkout has none.
    trial_used: Mapped[bool] = mapped_column(default=False)

    @property
    def account_id(self) -> UUID:
        return self.id


class StripeEvent(Base):
    """One Stripe event, stored once by its id (a redelivery is recognised and changes nothing),
    applied by ``billing.apply_events`` in Stripe's order per subscription."""

    __tablename__ = "billing_stripe_events"
    __table_args__ = (
        Index("ix_billing_stripe_events_ordering_key_created", "ordering_key", "created"),
        Index("ix_billing_stripe_events_processed_at_received_at", "processed_at", "received_at"),
    )

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    created: Mapped[dt.datetime]  # Stripe's, to the second
    # Events of one subscription (else one customer) are applied in order, one at a time.
    ordering_key: Mapped[str] = mapped_column(String(255))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[dt.datetime | None]
    # applied, stale (older than the state already applied), ignored, unknown-account
    outcome: Mapped[str | None] = mapped_column(String(32))


class BrandMeter(Base):
    """Per brand: its sends are metered up to ``messages_until``; its stored profiles."""

    __tablename__ = "billing_brand_meters"

    brand_id: Mapped[UUID] = mapped_column(
        ForeignKey("brands.id", ondelete="CASCADE"), primary_key=True
    )
    messages_until: Mapped[dt.datetime]
    profiles: Mapped[int] = mapped_column(BigInteger, default=0)
    profiles_counted_at: Mapped[dt.datetime | None]


class MeterReport(IdMixin, Base):
    """One batch of usage: what Levier counted for a window, and whether Stripe took it. The
    ``identifier`` is the Billing Meter event's: a retried report is the same event."""

    __tablename__ = "billing_meter_reports"
    __table_args__ = (
        Index(
            "ix_billing_meter_reports_brand_id_metric_window_start",
            "brand_id",
            "metric",
            "window_start",
        ),
        Index(
            "ix_billing_meter_reports_account_id_metric_window_start",
            "account_id",
            "metric",
            "window_start",
        ),
        Index("ix_billing_meter_reports_status_window_start", "status", "window_start"),
    )

    # Messages are metered per brand; profiles per account (the brand is then null).
    brand_id: Mapped[UUID | None] = mapped_column(ForeignKey("brands.id", ondelete="SET NULL"))
    account_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("billing_accounts.id", ondelete="SET NULL")
    )
    metric: Mapped[str] = mapped_column(String(32))  # messages_email, …, profiles
    event_name: Mapped[str] = mapped_column(String(100))
    window_start: Mapped[dt.datetime]
    window_end: Mapped[dt.datetime]
    value: Mapped[int] = mapped_column(BigInteger)
    identifier: Mapped[str] = mapped_column(String(200), unique=True)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[ReportStatus] = mapped_column(string_enum(ReportStatus, "billing_report_status"))
    attempts: Mapped[int] = mapped_column(default=0)
    # While a sender holds it (its request is out), no other sender takes it.
    sending_until: Mapped[dt.datetime | None]
    reported_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class UsageWarning(IdMixin, Base):
    """A threshold (80 or 100 % of an entitlement) crossed by an account in a period: told
    once, as the webhook event ``billing.usage_warning`` to each of its brands. ``account_key``
    names the account (its id; ``agency`` for an agency that has none yet, on the default
    plan)."""

    __tablename__ = "billing_usage_warnings"
    __table_args__ = (
        UniqueConstraint(
            "agency_id",
            "account_key",
            "period_start",
            "metric",
            "threshold",
            name="uq_billing_usage_warnings_once",  # the derived name passes 63 characters
        ),
    )

    agency_id: Mapped[UUID] = mapped_column(ForeignKey("agencies.id", ondelete="CASCADE"))
    account_key: Mapped[str] = mapped_column(String(64))
    period_start: Mapped[dt.datetime]
    metric: Mapped[str] = mapped_column(String(32))
    threshold: Mapped[int]
    used: Mapped[int] = mapped_column(BigInteger)
    limit: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
