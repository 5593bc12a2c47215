"""REST routes of billing: an agency's account (owners and admins read, owners change), a brand's
billing under ``/v1/brands/{brand_id}/billing`` (the brand guard answers 404 first), the plans,
and Stripe's webhook."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, get, post, put
from litestar.datastructures import State
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from backend.auth.guards import AGENCY_ACCESS_OPT, agency_guard, caller_of
from backend.auth.scopes import needs
from backend.billing import accounts, catalogue, events
from backend.billing.schemas import (
    BillingOut,
    BrandBillingUpdate,
    CheckoutCreate,
    CheckoutSessionOut,
    InvoicePage,
    PlanOut,
    PlanPage,
    PortalCreate,
    PortalSessionOut,
    StripeWebhookAccepted,
    UsageReportOut,
)
from backend.config import Settings
from backend.core.access import Access
from backend.core.api import BRAND_ACCESS_OPT, BrandController
from backend.core.dependencies import DbSession, Paging, Tenant
from backend.core.edge import BODY_OPT, BodyRule
from backend.core.errors import problem_responses
from backend.core.idempotency import KEY_IGNORED

READ = problem_responses(401, 403, 404, 422)
STRIPE_READ = problem_responses(401, 403, 404, 409, 422, 502)
STRIPE_WRITE = problem_responses(401, 403, 404, 409, 422, 502)
Month = Annotated[
    str | None,
    QueryParameter(description="The month, `YYYY-MM` (UTC); this month when absent."),
]
InvoiceLimit = Annotated[
    int, QueryParameter(ge=1, le=100, description="Invoices per page (1-100).")
]
InvoiceCursor = Annotated[
    str | None,
    QueryParameter(description="The `nextCursor` of the previous page (an invoice id)."),
]


def _settings(state: State) -> Settings:
    settings: Settings = state.settings
    return settings


class AgencyBillingController(Controller):
    """An agency's billing: its subscription, plans, checkout, portal, invoices and usage."""

    path = "/v1/agencies/{agency_id:uuid}/billing"
    tags = ["billing"]
    guards = [agency_guard]
    opt = {AGENCY_ACCESS_OPT: Access.ADMIN}

    @get(
        "/",
        operation_id="getAgencyBilling",
        summary="Read an agency's billing",
        **needs("billing:read"),
        responses=READ,
    )
    async def get_billing(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        state: State,
        agency_id: FromPath[UUID],
    ) -> BillingOut:
        """The agency's subscription (status, plan, trial, period, grace), its plan's
        entitlements, this month's usage over the brands it bills, the 80/100 % warnings and
        how each brand is billed. On a deployment without Stripe: `configured` false,
        everything unlimited (owners and admins)."""
        return await accounts.agency_billing(
            db_session, _settings(state), caller_of(request), agency_id
        )

    @get(
        "/plans",
        operation_id="listBillingPlans",
        summary="List the plans",
        **needs("billing:read"),
        responses=READ,
    )
    async def list_plans(
        self, db_session: DbSession, agency_id: FromPath[UUID], page: Paging
    ) -> PlanPage:
        """The plans on sale (Stripe prices synced by lookup key) with what each grants; empty
        on a deployment without Stripe."""
        items, cursor = await catalogue.list_plans(db_session, page)
        return PlanPage([PlanOut.of_price(p) for p in items], cursor)

    @post(
        "/checkout-sessions",
        operation_id="createCheckoutSession",
        summary="Start a subscription (Stripe Checkout)",
        **needs("billing:write", opt={AGENCY_ACCESS_OPT: Access.OWNER}),
        status_code=HTTP_201_CREATED,
        responses=STRIPE_WRITE,
    )
    async def create_checkout(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        state: State,
        agency_id: FromPath[UUID],
        data: JSONBody[CheckoutCreate],
    ) -> CheckoutSessionOut:
        """A Stripe Checkout Session subscribing the agency to `plan` (its trial days on a first
        subscription); send the owner to `url`. The agency becomes a Stripe customer on the way.
        An unknown plan is 422, an agency already subscribed 409 (use the portal), Stripe
        failing or not answering 502 — nothing is created then (agency owners)."""
        return await accounts.create_checkout(
            db_session, _settings(state), caller_of(request), agency_id, data
        )

    @post(
        "/portal-sessions",
        operation_id="createPortalSession",
        summary="Open the customer portal",
        **needs("billing:write", opt={AGENCY_ACCESS_OPT: Access.OWNER}),
        status_code=HTTP_201_CREATED,
        responses=STRIPE_WRITE,
    )
    async def create_portal(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        state: State,
        agency_id: FromPath[UUID],
        data: JSONBody[PortalCreate],
    ) -> PortalSessionOut:
        """A Stripe customer portal session, where the owner changes the plan, the card and the
        invoices' details (agency owners)."""
        return await accounts.create_portal(
            db_session, _settings(state), caller_of(request), agency_id, data.return_url
        )

    @get(
        "/invoices",
        operation_id="listInvoices",
        summary="List the agency's invoices",
        **needs("billing:read"),
        responses=STRIPE_READ,
    )
    async def list_invoices(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        state: State,
        agency_id: FromPath[UUID],
        limit: InvoiceLimit = 20,
        cursor: InvoiceCursor = None,
    ) -> InvoicePage:
        """The invoices of the agency's Stripe customer, newest first, as Stripe lists them."""
        items, next_cursor = await accounts.list_invoices(
            db_session, _settings(state), caller_of(request), agency_id, limit=limit, after=cursor
        )
        return InvoicePage(items, next_cursor)

    @get(
        "/usage",
        operation_id="getBillingUsage",
        summary="Read an agency's metered usage",
        **needs("billing:read"),
        responses=READ,
    )
    async def get_usage(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        agency_id: FromPath[UUID],
        month: Month = None,
    ) -> UsageReportOut:
        """Per brand and channel, the messages Levier metered in the month and how many of
        them Stripe took (`reported`), are waiting (`pending`) or bill no one (`unbilled`);
        the daily profile reports. For reconciliation with the invoices."""
        return await accounts.agency_usage(db_session, caller_of(request), agency_id, month)


class BrandBillingController(BrandController):
    """A brand's billing: the account governing it, how it is billed, its own checkout,
    portal and invoices when billed on its own, and its usage."""

    path = "/v1/brands/{brand_id:uuid}/billing"
    tags = ["billing"]
    opt = {BRAND_ACCESS_OPT: Access.ADMIN}

    @get(
        "/",
        operation_id="getBrandBilling",
        summary="Read a brand's billing",
        **needs("billing:read"),
        responses=READ,
    )
    async def get_billing(self, db_session: DbSession, state: State, tenant: Tenant) -> BillingOut:
        """The account governing the brand (its own when billed on its own, else its
        agency's): plan, state, entitlements, this month's usage (the brand's own sends counted
        live) and warnings; `sendsHeld` and `readOnly` say what billing holds."""
        return await accounts.brand_billing(db_session, _settings(state), tenant)

    @put(
        "/",
        operation_id="setBrandBilling",
        summary="Choose how a brand is billed",
        **needs("billing:write", opt={BRAND_ACCESS_OPT: Access.OWNER}),
        status_code=HTTP_200_OK,
        responses=problem_responses(401, 403, 404, 409, 422),
    )
    async def set_billing(
        self,
        db_session: DbSession,
        state: State,
        tenant: Tenant,
        data: JSONBody[BrandBillingUpdate],
    ) -> BillingOut:
        """`agency` (billed with the agency), `subscription` (a subscription of its own under
        the agency's Stripe customer) or `customer` (a Stripe customer of its own); then start
        its subscription with `createBrandCheckoutSession`. A brand whose own subscription is
        live keeps its mode (409): cancel it in the portal first (agency owners)."""
        return await accounts.set_brand_mode(db_session, _settings(state), tenant, data.mode)

    @post(
        "/checkout-sessions",
        operation_id="createBrandCheckoutSession",
        summary="Start a brand's own subscription",
        **needs("billing:write", opt={BRAND_ACCESS_OPT: Access.OWNER}),
        status_code=HTTP_201_CREATED,
        responses=STRIPE_WRITE,
    )
    async def create_checkout(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        state: State,
        tenant: Tenant,
        data: JSONBody[CheckoutCreate],
    ) -> CheckoutSessionOut:
        """A Stripe Checkout Session subscribing a brand billed on its own to `plan` (409 while
        it is billed with its agency)."""
        caller = caller_of(request)
        agency_id = caller.brand_agency[tenant]
        return await accounts.create_checkout(
            db_session, _settings(state), caller, agency_id, data, brand_id=tenant
        )

    @post(
        "/portal-sessions",
        operation_id="createBrandPortalSession",
        summary="Open a brand's customer portal",
        **needs("billing:write", opt={BRAND_ACCESS_OPT: Access.OWNER}),
        status_code=HTTP_201_CREATED,
        responses=STRIPE_WRITE,
    )
    async def create_portal(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        state: State,
        tenant: Tenant,
        data: JSONBody[PortalCreate],
    ) -> PortalSessionOut:
        """The customer portal of the customer paying for the brand (its own, or its agency's
        for a subscription of its own under the agency)."""
        caller = caller_of(request)
        return await accounts.create_portal(
            db_session,
            _settings(state),
            caller,
            caller.brand_agency[tenant],
            data.return_url,
            brand_id=tenant,
        )

    @get(
        "/invoices",
        operation_id="listBrandInvoices",
        summary="List a brand's own invoices",
        **needs("billing:read"),
        responses=STRIPE_READ,
    )
    async def list_invoices(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        state: State,
        tenant: Tenant,
        limit: InvoiceLimit = 20,
        cursor: InvoiceCursor = None,
    ) -> InvoicePage:
        """The invoices of the brand's own subscription or customer (none while it is billed
        with its agency)."""
        caller = caller_of(request)
        items, next_cursor = await accounts.list_invoices(
            db_session,
            _settings(state),
            caller,
            caller.brand_agency[tenant],
            brand_id=tenant,
            limit=limit,
            after=cursor,
        )
        return InvoicePage(items, next_cursor)

    @get(
        "/usage",
        operation_id="getBrandBillingUsage",
        summary="Read a brand's metered usage",
        **needs("billing:read"),
        responses=READ,
    )
    async def get_usage(
        self, db_session: DbSession, tenant: Tenant, month: Month = None
    ) -> UsageReportOut:
        """The brand's month per channel: its ledger read live (`ledger`), what Levier metered
        from it and what Stripe took — they agree once the month's last batches are reported."""
        return await accounts.brand_usage(db_session, tenant, month)


class StripeWebhookController(Controller):
    """Where Stripe posts its events: authenticated by `Stripe-Signature`, not by a token."""

    path = "/v1/billing/stripe"
    tags = ["billing"]
    opt = {KEY_IGNORED: True}

    @post(
        "/webhook",
        operation_id="receiveStripeWebhook",
        summary="Receive a Stripe event",
        status_code=HTTP_200_OK,
        security=[],
        # The signature covers the raw bytes: the handler reads them itself.
        opt={BODY_OPT: BodyRule.RAW},
        responses=problem_responses(400, 409),
    )
    async def receive(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        state: State,
        stripe_signature: Annotated[
            str | None,
            HeaderParameter(
                name="stripe-signature",
                description='`t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`, keyed '
                "by the endpoint's signing secret (`whsec_…`).",
            ),
        ] = None,
    ) -> StripeWebhookAccepted:
        """A Stripe event, signed with the endpoint's secret (`Stripe-Signature: t=…,v1=…`,
        verified with Stripe's SDK; older than the tolerance, 300 s, or forged: 400 and nothing
        stored). Stored once by its id (a redelivery answers 200 and changes nothing), applied
        in the background in order per subscription."""
        body = await request.body()
        event_id, duplicate = await events.receive(
            db_session, _settings(state), body, stripe_signature
        )
        return StripeWebhookAccepted(id=event_id, duplicate=duplicate)
