"""GraphQL of billing: the REST shapes (derived from `backend.billing.schemas`) and the same
services. Agency fields take the `agency` argument (owners and admins read, owners change),
brand fields the `brand` argument; invoices and plans are connections; a mutation's expected
failures (an unknown plan, Stripe failing, not configured) are the `OperationError` member of
its result union."""

from __future__ import annotations

from typing import Any

import strawberry

from backend.auth.caller import Caller
from backend.billing import accounts, catalogue
from backend.billing.models import BillingMode, ReportStatus, SubscriptionStatus
from backend.billing.schemas import (
    BillingOut,
    BrandBillingUpdate,
    BrandModeOut,
    BrandUsageOut,
    CheckoutCreate,
    CheckoutSessionOut,
    EntitlementsOut,
    InvoiceOut,
    MeteredOut,
    PlanOut,
    PortalCreate,
    PortalSessionOut,
    ProfilesReportOut,
    UsageOut,
    UsageReportOut,
    WarningOut,
)
from backend.billing.standing import State
from backend.config import Settings
from backend.core.access import Access
from backend.core.errors import InvalidInput, Unauthenticated
from backend.core.graphql_entities import entity_type, graphql_enum, input_type, struct_of
from backend.core.graphql_fields import (
    AgencyUnit,
    AnyContext,
    BrandUnit,
    agency_mutation,
    agency_query,
    brand_mutation,
    brand_query,
)
from backend.core.relay import Connection, Edge, PageInfo

READ, WRITE = "billing:read", "billing:write"

graphql_enum(BillingMode)
graphql_enum(SubscriptionStatus)
graphql_enum(State, "BillingState")
graphql_enum(ReportStatus, "UsageReportStatus")


def _settings(context: AnyContext) -> Settings:
    request = context.request
    assert request is not None
    settings: Settings = request.app.state.settings
    return settings


def _caller(context: AnyContext) -> Caller:
    caller = context.require_caller()
    if not isinstance(caller, Caller):
        raise Unauthenticated()
    return caller


@entity_type(EntitlementsOut, name="Entitlements")
class EntitlementsType:
    """What a plan grants; null is unlimited."""


@entity_type(PlanOut, name="BillingPlan")
class PlanType:
    """A plan on sale, as synced from Stripe."""


@entity_type(UsageOut, name="BillingUsageItem")
class UsageType:
    """One entitlement this month: used, limit, remaining."""


@entity_type(WarningOut, name="BillingWarning")
class WarningType:
    """A usage threshold crossed this period."""


@entity_type(BrandModeOut, name="BrandBillingMode")
class BrandModeType:
    """How one brand is billed."""


@entity_type(BillingOut, name="Billing")
class BillingType:
    """The billing standing of an agency or of a brand's governing account."""


@entity_type(CheckoutSessionOut, name="CheckoutSession")
class CheckoutSessionType:
    """Stripe's hosted checkout page to send the owner to."""


@entity_type(PortalSessionOut, name="PortalSession")
class PortalSessionType:
    """Stripe's customer portal to send the owner to."""


@entity_type(InvoiceOut, name="Invoice")
class InvoiceType:
    """An invoice, as Stripe holds it."""


@entity_type(MeteredOut, name="MeteredUsage")
class MeteredType:
    """One metric over a month: ledger, metered, reported, pending, unbilled."""


@entity_type(BrandUsageOut, name="BrandUsage")
class BrandUsageType:
    """A brand's metered usage over a month."""


@entity_type(ProfilesReportOut, name="ProfilesReport")
class ProfilesReportType:
    """A daily report of the profiles stored."""


@entity_type(UsageReportOut, name="UsageReport")
class UsageReportType:
    """Usage over a month, for reconciliation with the invoices."""


@input_type(CheckoutCreate, name="CheckoutInput")
class CheckoutInput:
    """The plan to subscribe to and where Stripe sends the owner back."""


@input_type(PortalCreate, name="PortalInput")
class PortalInput:
    """Where the customer portal sends the owner back."""


@input_type(BrandBillingUpdate, name="BrandBillingInput")
class BrandBillingInput:
    """How the brand is billed."""


def _invoices(
    items: list[InvoiceOut], next_cursor: str | None, after: str | None
) -> Connection[Any]:
    edges = [Edge(node=item, cursor=item.id) for item in items]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=next_cursor is not None,
            has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )


def _first(first: int) -> int:
    if not 1 <= first <= 100:
        raise InvalidInput("first must be between 1 and 100", errors=[{"field": "first"}])
    return first


@strawberry.type
class BillingQuery:
    @agency_query(READ, access=Access.ADMIN)
    async def agency_billing(self, unit: AgencyUnit) -> BillingType:
        """The agency's subscription, plan, entitlements, this month's usage and warnings, and
        how each brand is billed (owners and admins)."""
        return await accounts.agency_billing(
            unit.session, _settings(unit.context), _caller(unit.context), unit.agency_id
        )

    @agency_query(READ, access=Access.ADMIN)
    async def billing_plans(
        self, unit: AgencyUnit, first: int = 50, after: str | None = None
    ) -> Connection[PlanType]:
        """The plans on sale, with what each grants."""
        page = unit.page(first, after)
        items, cursor = await catalogue.list_plans(unit.session, page)
        return unit.connection(
            [PlanOut.of_price(p) for p in items], cursor, page, count=catalogue.count_plans
        )

    @agency_query(READ, access=Access.ADMIN)
    async def invoices(
        self, unit: AgencyUnit, first: int = 20, after: str | None = None
    ) -> Connection[InvoiceType]:
        """The invoices of the agency's Stripe customer, newest first (`after`: a cursor)."""
        items, cursor = await accounts.list_invoices(
            unit.session,
            _settings(unit.context),
            _caller(unit.context),
            unit.agency_id,
            limit=_first(first),
            after=after,
        )
        return _invoices(items, cursor, after)

    @agency_query(READ, access=Access.ADMIN)
    async def billing_usage(self, unit: AgencyUnit, month: str | None = None) -> UsageReportType:
        """Per brand and channel, what Levier metered in the month (`YYYY-MM`, this month by
        default) and what Stripe took."""
        return await accounts.agency_usage(
            unit.session, _caller(unit.context), unit.agency_id, month
        )

    @brand_query(READ, access=Access.ADMIN)
    async def brand_billing(self, unit: BrandUnit) -> BillingType:
        """The account governing the brand: plan, state, entitlements, usage, warnings."""
        return await accounts.brand_billing(unit.session, _settings(unit.context), unit.tenant)

    @brand_query(READ, access=Access.ADMIN)
    async def brand_invoices(
        self, unit: BrandUnit, first: int = 20, after: str | None = None
    ) -> Connection[InvoiceType]:
        """The invoices of the brand's own subscription or customer."""
        caller = _caller(unit.context)
        items, cursor = await accounts.list_invoices(
            unit.session,
            _settings(unit.context),
            caller,
            caller.brand_agency[unit.tenant],
            brand_id=unit.tenant,
            limit=_first(first),
            after=after,
        )
        return _invoices(items, cursor, after)

    @brand_query(READ, access=Access.ADMIN)
    async def brand_billing_usage(
        self, unit: BrandUnit, month: str | None = None
    ) -> UsageReportType:
        """The brand's month per channel: its ledger, what was metered, what Stripe took."""
        return await accounts.brand_usage(unit.session, unit.tenant, month)


@strawberry.type
class BillingMutation:
    @agency_mutation(WRITE, access=Access.OWNER)
    async def create_checkout_session(
        self, unit: AgencyUnit, input: CheckoutInput
    ) -> CheckoutSessionType:
        """Start the agency's subscription to a plan on Stripe Checkout (agency owners)."""
        return await accounts.create_checkout(
            unit.session,
            _settings(unit.context),
            _caller(unit.context),
            unit.agency_id,
            struct_of(CheckoutCreate, input),
        )

    @agency_mutation(WRITE, access=Access.OWNER)
    async def create_portal_session(
        self, unit: AgencyUnit, input: PortalInput
    ) -> PortalSessionType:
        """Open Stripe's customer portal for the agency (agency owners)."""
        data = struct_of(PortalCreate, input)
        return await accounts.create_portal(
            unit.session,
            _settings(unit.context),
            _caller(unit.context),
            unit.agency_id,
            data.return_url,
        )

    @brand_mutation(WRITE, access=Access.OWNER)
    async def set_brand_billing(self, unit: BrandUnit, input: BrandBillingInput) -> BillingType:
        """Bill the brand with its agency, on a subscription of its own, or as a customer of
        its own (agency owners)."""
        data = struct_of(BrandBillingUpdate, input)
        return await accounts.set_brand_mode(
            unit.session, _settings(unit.context), unit.tenant, data.mode
        )

    @brand_mutation(WRITE, access=Access.OWNER)
    async def create_brand_checkout_session(
        self, unit: BrandUnit, input: CheckoutInput
    ) -> CheckoutSessionType:
        """Start the subscription of a brand billed on its own (agency owners)."""
        caller = _caller(unit.context)
        return await accounts.create_checkout(
            unit.session,
            _settings(unit.context),
            caller,
            caller.brand_agency[unit.tenant],
            struct_of(CheckoutCreate, input),
            brand_id=unit.tenant,
        )

    @brand_mutation(WRITE, access=Access.OWNER)
    async def create_brand_portal_session(
        self, unit: BrandUnit, input: PortalInput
    ) -> PortalSessionType:
        """Open the customer portal of whoever pays for the brand (agency owners)."""
        caller = _caller(unit.context)
        data = struct_of(PortalCreate, input)
        return await accounts.create_portal(
            unit.session,
            _settings(unit.context),
            caller,
            caller.brand_agency[unit.tenant],
            data.return_url,
            brand_id=unit.tenant,
        )
