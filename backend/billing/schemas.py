"""What the REST API reads and writes about billing."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from uuid import UUID

import msgspec

from backend.billing.models import BillingMode, ReportStatus, SubscriptionStatus
from backend.billing.plans import Entitlements
from backend.billing.standing import State
from backend.core.schemas import Schema, whole

Url = Annotated[
    str,
    msgspec.Meta(
        min_length=8,
        max_length=2000,
        pattern=whole(r"https?://[^\s]+"),
        description="An absolute http(s) URL.",
    ),
]
PlanKey = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=200,
        description="The plan: its Stripe price's lookup key (see `listBillingPlans`).",
    ),
]


class EntitlementsOut(Schema):
    """What a plan grants; null is unlimited."""

    brands: int | None
    profiles: int | None
    messages_email: int | None
    messages_sms: int | None
    messages_push: int | None
    ab_tests: bool
    live_content: bool
    api_rate_tier: str

    @classmethod
    def of_entitlements(cls, value: Entitlements) -> EntitlementsOut:
        return cls(
            brands=value.brands,
            profiles=value.profiles,
            messages_email=value.messages.get("email"),
            messages_sms=value.messages.get("sms"),
            messages_push=value.messages.get("push"),
            ab_tests=value.ab_tests,
            live_content=value.live_content,
            api_rate_tier=value.api_rate_tier,
        )


class PlanOut(Schema):
    """A plan an agency may subscribe to, as synced from Stripe."""

    id: UUID
    plan: str
    name: str
    currency: str
    unit_amount: int | None
    interval: str | None
    trial_days: int | None
    is_default: bool
    entitlements: EntitlementsOut

    @classmethod
    def of_price(cls, row: Any) -> PlanOut:
        return cls(
            id=row.id,
            plan=row.lookup_key,
            name=row.name,
            currency=row.currency,
            unit_amount=row.unit_amount,
            interval=row.interval,
            trial_days=row.trial_days,
            is_default=row.is_default,
            entitlements=EntitlementsOut.of_entitlements(Entitlements.of_json(row.entitlements)),
        )


class PlanPage(Schema):
    items: list[PlanOut]
    next_cursor: str | None


class UsageOut(Schema):
    """One entitlement this month: used, its limit (null: unlimited), what is left."""

    metric: str
    used: int
    limit: int | None
    remaining: int | None
    percent: float | None


class WarningOut(Schema):
    """A threshold crossed this period (also sent as the webhook `billing.usage_warning`)."""

    metric: str
    threshold: int
    used: int
    limit: int
    created_at: dt.datetime


class BrandModeOut(Schema):
    """How one brand of the agency is billed."""

    brand_id: UUID
    mode: BillingMode
    account_id: UUID | None
    status: SubscriptionStatus
    plan: str | None


class BillingOut(Schema):
    """The billing standing of an agency's own account or of a brand's governing account:
    its subscription, plan and entitlements, this month's usage and warnings, and what the
    state allows. `configured` is false on a deployment without Stripe: everything is then
    unlimited and `missingSettings` names what to set."""

    agency_id: UUID
    brand_id: UUID | None
    account_id: UUID | None
    mode: BillingMode
    configured: bool
    missing_settings: list[str]
    state: State
    status: SubscriptionStatus
    plan: str | None
    plan_name: str | None
    trial_end: dt.datetime | None
    current_period_end: dt.datetime | None
    cancel_at_period_end: bool
    past_due_since: dt.datetime | None
    grace_until: dt.datetime | None
    sends_held: bool
    read_only: bool
    stripe_customer_id: str | None
    entitlements: EntitlementsOut
    period_start: dt.datetime
    usage: list[UsageOut]
    warnings: list[WarningOut]
    covered_brand_ids: list[UUID]
    brands: list[BrandModeOut]


class CheckoutCreate(Schema):
    """Start a subscription to `plan` on Stripe Checkout."""

    plan: PlanKey
    success_url: Url
    cancel_url: Url


class CheckoutSessionOut(Schema):
    """Where to send the owner: Stripe's hosted checkout page."""

    id: str
    url: str
    expires_at: dt.datetime | None


class PortalCreate(Schema):
    """Open Stripe's customer portal (plan, card, invoice details); back to `returnUrl`."""

    return_url: Url


class PortalSessionOut(Schema):
    id: str
    url: str


class BrandBillingUpdate(Schema):
    """How the brand is billed: with its agency, on a subscription of its own under the
    agency's Stripe customer, or as a Stripe customer of its own."""

    mode: BillingMode


class InvoiceOut(Schema):
    """An invoice, as Stripe holds it (amounts in the currency's minor unit)."""

    id: str
    number: str | None
    status: str | None
    currency: str
    total: int
    amount_due: int
    amount_paid: int
    created: dt.datetime
    period_start: dt.datetime | None
    period_end: dt.datetime | None
    hosted_invoice_url: str | None
    invoice_pdf: str | None
    customer_id: str | None


class InvoicePage(Schema):
    items: list[InvoiceOut]
    next_cursor: str | None


class MeteredOut(Schema):
    """One metric of one brand over the period: what Levier counted (the ledger, read live,
    on a brand's own usage), what it metered in batches, and how much of that Stripe took
    (`reported`), is waiting to be reported (`pending`) or bills no one (`unbilled`)."""

    metric: str
    ledger: int | None
    metered: int
    reported: int
    pending: int
    unbilled: int

    @classmethod
    def of_counts(
        cls, metric: str, by_status: dict[ReportStatus, int], ledger: int | None
    ) -> MeteredOut:
        return cls(
            metric=metric,
            ledger=ledger,
            metered=sum(by_status.values()),
            reported=by_status.get(ReportStatus.REPORTED, 0),
            pending=by_status.get(ReportStatus.PENDING, 0),
            unbilled=by_status.get(ReportStatus.UNBILLED, 0),
        )


class BrandUsageOut(Schema):
    brand_id: UUID
    metrics: list[MeteredOut]


class ProfilesReportOut(Schema):
    """A daily report of the profiles an account stores."""

    day: dt.datetime
    value: int
    status: ReportStatus


class UsageReportOut(Schema):
    """Usage over a month, for reconciliation with Stripe's invoices."""

    period_start: dt.datetime
    period_end: dt.datetime
    brands: list[BrandUsageOut]
    profiles: list[ProfilesReportOut]


class StripeWebhookAccepted(Schema):
    """The event was stored (or was already): it is applied in the background."""

    id: str
    duplicate: bool
