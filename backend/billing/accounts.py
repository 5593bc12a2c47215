"""Agency and brand accounts: how each brand is billed, self-service checkout and customer
portal, invoices, and the standing both APIs show.

An agency becomes a Stripe customer at its first checkout. A brand billed on its own
(``subscription`` mode: its own subscription under the agency's customer; ``customer`` mode: a
customer of its own) has an account of its own, which governs it once subscribed. Stripe calls
come first and the rows are written after them, so a Stripe error or timeout leaves nothing
half-created: the unit of work rolls back, and the customer Stripe may have created answers the
retry again (its creation carries an idempotency key derived from the account it is for).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any
from uuid import UUID

import stripe
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.caller import Caller
from backend.billing import catalogue, repository, standing
from backend.billing.events import ACCOUNT_KEY
from backend.billing.models import LIVE_STATUSES, BillingAccount, BillingMode, SubscriptionStatus
from backend.billing.plans import MESSAGE_METRICS, PROFILES
from backend.billing.schemas import (
    BillingOut,
    BrandModeOut,
    BrandUsageOut,
    CheckoutCreate,
    CheckoutSessionOut,
    EntitlementsOut,
    InvoiceOut,
    MeteredOut,
    PortalSessionOut,
    ProfilesReportOut,
    UsageOut,
    UsageReportOut,
    WarningOut,
)
from backend.billing.standing import Standing, State
from backend.billing.stripe_api import call, missing_settings, not_configured, stripe_client
from backend.config import Settings
from backend.core.db import utcnow
from backend.core.errors import Conflict, InvalidInput
from backend.core.ids import new_id
from backend.core.tenancy import TenantId
from backend.messaging import service as messaging_service
from backend.tenancy import service as tenancy_service


def _at(seconds: Any) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(int(seconds), dt.UTC) if seconds else None


# The standing, as the APIs show it -----------------------------------------------------------


async def _view(
    session: AsyncSession,
    settings: Settings,
    governing: Standing,
    *,
    brand_id: UUID | None,
    brands: list[BrandModeOut],
) -> BillingOut:
    now = utcnow()
    state = governing.state(settings, now)
    usage = await standing.usage_of(session, governing, now)
    items = []
    for metric in ("brands", PROFILES, *MESSAGE_METRICS.values()):
        limit = governing.entitlements.limit_of(metric) if governing.configured else None
        used = usage.of(metric)
        items.append(
            UsageOut(
                metric=metric,
                used=used,
                limit=limit,
                remaining=None if limit is None else max(limit - used, 0),
                percent=None if not limit else round(100 * used / limit, 1),
            )
        )
    key = str(governing.account_id) if governing.account_id else "agency"
    warnings = await repository.warnings_of(session, governing.agency_id, key, usage.period_start)
    return BillingOut(
        agency_id=governing.agency_id,
        brand_id=brand_id,
        account_id=governing.account_id,
        mode=governing.mode,
        configured=governing.configured,
        missing_settings=missing_settings(settings),
        state=state,
        status=governing.status,
        plan=governing.plan_key,
        plan_name=governing.plan_name,
        trial_end=governing.trial_end,
        current_period_end=governing.current_period_end,
        cancel_at_period_end=governing.cancel_at_period_end,
        past_due_since=governing.past_due_since,
        grace_until=governing.grace_until(settings),
        sends_held=state in (State.PAUSED, State.READ_ONLY),
        read_only=state is State.READ_ONLY,
        stripe_customer_id=governing.stripe_customer_id,
        entitlements=EntitlementsOut.of_entitlements(governing.entitlements),
        period_start=usage.period_start,
        usage=items,
        warnings=WarningOut.many(warnings),
        covered_brand_ids=list(governing.covered),
        brands=brands,
    )


async def _brand_modes(session: AsyncSession, agency_id: UUID) -> list[BrandModeOut]:
    accounts = {
        a.brand_id: a
        for a in await repository.accounts_of_agency(session, agency_id)
        if a.brand_id is not None
    }
    modes = []
    for brand_id in await tenancy_service.brand_ids_of_agency(session, agency_id):
        account = accounts.get(brand_id)
        modes.append(
            BrandModeOut(
                brand_id=brand_id,
                mode=account.mode if account else BillingMode.AGENCY,
                account_id=account.id if account else None,
                status=account.status if account else SubscriptionStatus.NONE,
                plan=account.plan_key if account else None,
            )
        )
    return modes


async def agency_billing(
    session: AsyncSession, settings: Settings, caller: Caller, agency_id: UUID
) -> BillingOut:
    """The agency's own account: plan, state, usage over the brands it bills, each brand's
    billing mode."""
    await tenancy_service.get_agency(session, caller, agency_id)
    governing = await standing.of_agency(session, agency_id)
    brands = await _brand_modes(session, agency_id)
    return await _view(session, settings, governing, brand_id=None, brands=brands)


async def brand_billing(session: AsyncSession, settings: Settings, tenant: TenantId) -> BillingOut:
    """The account governing the brand (its own, or its agency's), usage counted live for it."""
    governing = await standing.of_brand(session, tenant)
    brand_account = await repository.brand_account(session, tenant)
    mode = [
        BrandModeOut(
            brand_id=tenant,
            mode=brand_account.mode if brand_account else BillingMode.AGENCY,
            account_id=brand_account.id if brand_account else None,
            status=brand_account.status if brand_account else SubscriptionStatus.NONE,
            plan=brand_account.plan_key if brand_account else None,
        )
    ]
    return await _view(session, settings, governing, brand_id=tenant, brands=mode)


# Brand billing modes -------------------------------------------------------------------------


async def set_brand_mode(
    session: AsyncSession, settings: Settings, tenant: TenantId, mode: BillingMode
) -> BillingOut:
    """Bill the brand with its agency, on a subscription of its own under the agency's
    customer, or as a customer of its own. A brand whose own subscription is live keeps its
    mode (409): cancel the subscription in the portal first."""
    brand = await tenancy_service.get_brand(session, tenant)
    account = await repository.brand_account(session, tenant)
    if account is not None and account.mode is not mode and account.status in LIVE_STATUSES:
        raise Conflict(
            f"the brand's own subscription is {account.status.value}: cancel it in the customer "
            "portal before changing how the brand is billed"
        )
    if mode is BillingMode.AGENCY:
        if account is not None:
            await session.delete(account)
    elif account is None:
        session.add(BillingAccount(agency_id=brand.agency_id, brand_id=tenant, mode=mode))
    elif account.mode is not mode:
        account.mode = mode
        # The other mode bills another customer: the next checkout finds (or makes) it.
        account.stripe_customer_id = None
        account.stripe_subscription_id = None
        account.status = SubscriptionStatus.NONE
        account.state_as_of = None
    await session.flush()
    return await brand_billing(session, settings, tenant)


# Checkout and portal -------------------------------------------------------------------------


def _key(*parts: object) -> str:
    digest = hashlib.sha256(json.dumps(parts, default=str, sort_keys=True).encode()).hexdigest()
    return f"levier-customer-{digest[:40]}"


async def _customer(
    client: stripe.StripeClient,
    account: BillingAccount,
    *,
    name: str,
    email: str | None,
    metadata: dict[str, str],
) -> str:
    """The account's Stripe customer, created when it has none (the idempotency key makes a
    retry after a failed checkout find the same customer)."""
    if account.stripe_customer_id:
        return account.stripe_customer_id
    params: dict[str, Any] = {"name": name, "metadata": metadata}
    if email:
        params["email"] = email
    customer = await call(
        "creating the Stripe customer",
        client.v1.customers.create_async(
            params,  # type: ignore[arg-type]
            {"idempotency_key": _key(account.agency_id, account.brand_id, params)},
        ),
    )
    return customer.id


async def _paying_account(
    session: AsyncSession, caller: Caller, agency_id: UUID, brand_id: UUID | None
) -> tuple[BillingAccount, BillingAccount | None, str]:
    """(the account to subscribe, the agency's account when its customer pays, the customer's
    name); new accounts are not added to the session yet."""
    agency = await tenancy_service.get_agency(session, caller, agency_id)
    own = await repository.agency_account(session, agency_id) or BillingAccount(
        agency_id=agency_id, mode=BillingMode.AGENCY, status=SubscriptionStatus.NONE
    )
    if brand_id is None:
        return own, None, agency.name
    account = await repository.brand_account(session, brand_id)
    if account is None:
        raise Conflict(
            "the brand is billed with its agency: bill it on its own first "
            "(PUT /v1/brands/{brand_id}/billing with mode `subscription` or `customer`)"
        )
    brand = await tenancy_service.get_brand(session, TenantId(brand_id))
    if account.mode is BillingMode.SUBSCRIPTION:
        return account, own, agency.name
    return account, None, f"{agency.name} — {brand.name}"


async def create_checkout(
    session: AsyncSession,
    settings: Settings,
    caller: Caller,
    agency_id: UUID,
    data: CheckoutCreate,
    *,
    brand_id: UUID | None = None,
) -> CheckoutSessionOut:
    """A Stripe Checkout Session subscribing the agency (or a brand billed on its own) to a
    plan, with the plan's trial on a first subscription and the metered prices when no other
    subscription of the customer carries them. The customer is created on the way if needed;
    rows are written only once Stripe answered."""
    if not settings.stripe_configured:
        raise not_configured(settings, "a checkout")
    plan = await catalogue.plan_by_key(session, data.plan)
    if plan is None:
        raise InvalidInput(
            f"no plan {data.plan!r}: see the plans listed (synced from Stripe)",
            errors=[{"field": "plan", "message": "unknown plan"}],
        )
    account, payer, name = await _paying_account(session, caller, agency_id, brand_id)
    if account.status in LIVE_STATUSES:
        raise Conflict(
            f"already subscribed ({account.status.value}): change the plan in the customer portal"
        )
    customer_account = payer or account
    metered = await catalogue.metered_prices(session)
    others = (
        await repository.accounts_of_customer(session, customer_account.stripe_customer_id)
        if customer_account.stripe_customer_id
        else []
    )
    carries_metered = any(
        a.metered and a.status in LIVE_STATUSES and a.id != account.id for a in others
    )
    metadata = {"levier_agency_id": str(agency_id)}
    if brand_id is not None:
        metadata["levier_brand_id"] = str(brand_id)
    line_items: list[dict[str, Any]] = [{"price": plan.stripe_price_id, "quantity": 1}]
    if not carries_metered:
        line_items += [{"price": p.stripe_price_id} for p in metered]
    async with stripe_client(settings) as client:
        customer = await _customer(
            client, customer_account, name=name, email=caller.email, metadata=metadata
        )
        if account.id is None:
            account.id = new_id()
        subscription_data: dict[str, Any] = {"metadata": {**metadata, ACCOUNT_KEY: str(account.id)}}
        if plan.trial_days and not account.trial_used:
            subscription_data["trial_period_days"] = plan.trial_days
        params: dict[str, Any] = {
            "mode": "subscription",
            "customer": customer,
            "client_reference_id": str(account.id),
            "line_items": line_items,
            "subscription_data": subscription_data,
            "metadata": {**metadata, ACCOUNT_KEY: str(account.id)},
            "success_url": data.success_url,
            "cancel_url": data.cancel_url,
        }
        checkout = await call(
            "starting the checkout",
            client.v1.checkout.sessions.create_async(params),  # type: ignore[arg-type]
        )
    customer_account.stripe_customer_id = customer
    if brand_id is not None and account.mode is BillingMode.SUBSCRIPTION:
        account.stripe_customer_id = customer
    for row in (customer_account, account):
        if row not in session:
            session.add(row)
    await session.flush()
    if not checkout.url:
        raise Conflict("Stripe answered a checkout without a URL")
    return CheckoutSessionOut(id=checkout.id, url=checkout.url, expires_at=_at(checkout.expires_at))


async def _customer_of(
    session: AsyncSession, agency_id: UUID, brand_id: UUID | None
) -> tuple[str | None, str | None]:
    """(customer, subscription to filter on) whose invoices and portal belong to the agency or
    the brand."""
    if brand_id is None:
        own = await repository.agency_account(session, agency_id)
        return (own.stripe_customer_id if own else None), None
    account = await repository.brand_account(session, brand_id)
    if account is None:
        return None, None
    if account.mode is BillingMode.SUBSCRIPTION:
        # Its subscription lives under the agency's customer: only its own invoices are its.
        if account.stripe_subscription_id is None:
            return None, None
        own = await repository.agency_account(session, agency_id)
        customer = account.stripe_customer_id or (own.stripe_customer_id if own else None)
        return customer, account.stripe_subscription_id
    return account.stripe_customer_id, None


async def create_portal(
    session: AsyncSession,
    settings: Settings,
    caller: Caller,
    agency_id: UUID,
    return_url: str,
    *,
    brand_id: UUID | None = None,
) -> PortalSessionOut:
    """A Stripe customer portal session: change plan, card and invoices' details."""
    if not settings.stripe_configured:
        raise not_configured(settings, "the customer portal")
    await tenancy_service.get_agency(session, caller, agency_id)
    customer, _ = await _customer_of(session, agency_id, brand_id)
    if customer is None:
        raise Conflict("no Stripe customer yet: start a subscription (checkout) first")
    async with stripe_client(settings) as client:
        portal = await call(
            "opening the customer portal",
            client.v1.billing_portal.sessions.create_async(
                {"customer": customer, "return_url": return_url}
            ),
        )
    return PortalSessionOut(id=portal.id, url=portal.url)


async def list_invoices(
    session: AsyncSession,
    settings: Settings,
    caller: Caller,
    agency_id: UUID,
    *,
    brand_id: UUID | None = None,
    limit: int = 20,
    after: str | None = None,
) -> tuple[list[InvoiceOut], str | None]:
    """The invoices of the agency's customer (or of the brand billed on its own), newest
    first, as Stripe lists them; ``after`` is the last invoice id of the previous page. None
    without Stripe (the billing standing says what is not configured)."""
    await tenancy_service.get_agency(session, caller, agency_id)
    if not settings.stripe_configured:
        return [], None
    customer, subscription = await _customer_of(session, agency_id, brand_id)
    if customer is None:
        return [], None
    params: dict[str, Any] = {"customer": customer, "limit": limit}
    if subscription is not None:
        params["subscription"] = subscription
    if after:
        params["starting_after"] = after
    async with stripe_client(settings) as client:
        listed = await call("listing invoices", client.v1.invoices.list_async(params))  # type: ignore[arg-type]
    items = [_invoice(invoice) for invoice in listed.data]
    return items, (items[-1].id if listed.has_more and items else None)


def _invoice(invoice: stripe.Invoice) -> InvoiceOut:
    customer = invoice.customer
    return InvoiceOut(
        id=invoice.id or "",
        number=invoice.number,
        status=invoice.status,
        currency=invoice.currency,
        total=invoice.total,
        amount_due=invoice.amount_due,
        amount_paid=invoice.amount_paid,
        created=_at(invoice.created) or utcnow(),
        period_start=_at(invoice.period_start),
        period_end=_at(invoice.period_end),
        hosted_invoice_url=invoice.hosted_invoice_url,
        invoice_pdf=invoice.invoice_pdf,
        customer_id=customer if isinstance(customer, str) else getattr(customer, "id", None),
    )


# Usage for reconciliation --------------------------------------------------------------------


def parse_month(month: str | None) -> dt.datetime:
    """The first instant of ``YYYY-MM`` (UTC); this month when None."""
    if month is None:
        return standing.month_start(utcnow())
    try:
        year, number = (int(part) for part in month.split("-"))
        return dt.datetime(year, number, 1, tzinfo=dt.UTC)
    except ValueError:
        raise InvalidInput(
            "month must be YYYY-MM", errors=[{"field": "month", "message": "expected YYYY-MM"}]
        ) from None


async def _usage_report(
    session: AsyncSession,
    brand_ids: tuple[UUID, ...],
    account_ids: list[UUID],
    start: dt.datetime,
    ledger: dict[str, int] | None,
) -> UsageReportOut:
    end = standing.next_month(start)
    reported = await standing.reported_of(session, brand_ids, start, end)
    brands = [
        BrandUsageOut(
            brand_id=brand_id,
            metrics=[
                MeteredOut.of_counts(
                    metric, by_status, ledger.get(metric, 0) if ledger is not None else None
                )
                for metric, by_status in reported[brand_id].items()
            ],
        )
        for brand_id in brand_ids
    ]
    profiles = []
    for account_id in account_ids:
        for row in await repository.reports_of_account(session, account_id, PROFILES, start, end):
            profiles.append(
                ProfilesReportOut(day=row.window_start, value=row.value, status=row.status)
            )
    return UsageReportOut(period_start=start, period_end=end, brands=brands, profiles=profiles)


async def agency_usage(
    session: AsyncSession, caller: Caller, agency_id: UUID, month: str | None
) -> UsageReportOut:
    """Per brand of the agency, what Levier metered in the month and what Stripe took."""
    await tenancy_service.get_agency(session, caller, agency_id)
    start = parse_month(month)
    brands = tuple(await tenancy_service.brand_ids_of_agency(session, agency_id))
    accounts = [a.id for a in await repository.accounts_of_agency(session, agency_id)]
    return await _usage_report(session, brands, accounts, start, None)


async def brand_usage(session: AsyncSession, tenant: TenantId, month: str | None) -> UsageReportOut:
    """The brand's month: its ledger (read live), what was metered and what Stripe took."""
    start = parse_month(month)
    counts = await messaging_service.sent_counts(session, start, standing.next_month(start))
    ledger = {MESSAGE_METRICS[c.value]: n for c, n in counts.items()}
    account = await repository.brand_account(session, tenant)
    return await _usage_report(session, (tenant,), [account.id] if account else [], start, ledger)
