"""An agency subscribing through Stripe Checkout (a trial, then paid), its customer portal and
invoices, a brand billed on its own in both modes, and checkouts that fail: an unknown plan,
Stripe refusing or not answering — a clear problem, and nothing half-created."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import func, select

from backend.billing.models import BillingAccount, BillingMode, SubscriptionStatus
from backend.config import Settings
from tests.billing.helpers import (
    CANCEL,
    SUCCESS,
    account_of,
    agency_url,
    apply_events,
    brand_url,
    checkout,
    deliver,
    deliver_all,
    subscribe,
    sync_plans,
)
from tests.billing.stripe_server import FakeStripe, Fault
from tests.factories import make_world, problem, session_of
from tests.test_graphql import gql, gql_data


async def _accounts(app: Litestar) -> int:
    async with session_of(app) as session:
        return int(await session.scalar(select(func.count()).select_from(BillingAccount)) or 0)


async def test_an_agency_subscribes_with_a_trial_which_ends_paid(
    app: Litestar, client: httpx.AsyncClient, settings: Settings, stripe: FakeStripe
) -> None:
    world = await make_world(app)
    await sync_plans(app, settings)
    started = await checkout(
        client, agency_url(world.agency_a.id, "/checkout-sessions"), world.owner_a, "levier_starter"
    )
    assert started.status_code == 201, started.text
    assert started.json()["url"].startswith("https://checkout.stripe.test/")
    # Stripe got a customer for the agency and a checkout with the plan, the metered prices
    # and the plan's trial.
    (customer,) = stripe.customers.values()
    assert customer["name"] == "Agency A"
    assert customer["email"] == world.owner_a.email
    assert customer["metadata"] == {"levier_agency_id": str(world.agency_a.id)}
    session = stripe.checkout_sessions[started.json()["id"]]
    prices = {item["price"] for item in session["line_items"]}
    assert prices == {
        stripe.price_by_key(key)["id"]
        for key in (
            "levier_starter",
            "levier_email_usage",
            "levier_sms_usage",
            "levier_profiles_usage",
        )
    }
    assert session["subscription_data"]["trial_period_days"] == "14"
    account = await account_of(app, world.agency_a.id)
    assert account.stripe_customer_id == customer["id"]
    assert session["client_reference_id"] == str(account.id)

    await deliver_all(client, stripe.complete_checkout(started.json()["id"]))
    assert await apply_events(app, settings) == 2
    billing = (
        await client.get(agency_url(world.agency_a.id), headers=world.admin_a.headers)
    ).json()
    assert billing["status"] == "trialing"
    assert billing["state"] == "active"
    assert billing["plan"] == "levier_starter"
    assert billing["planName"] == "Starter"
    assert billing["trialEnd"] is not None
    assert billing["entitlements"]["brands"] == 2
    assert billing["stripeCustomerId"] == customer["id"]

    subscription_id = stripe.checkout_sessions[started.json()["id"]]["subscription"]
    await deliver(client, stripe.trial_will_end(subscription_id))
    await deliver(client, stripe.update_subscription(subscription_id, status="active"))
    await deliver(client, stripe.invoice(subscription_id, paid=True))
    await apply_events(app, settings)
    after = (await client.get(agency_url(world.agency_a.id), headers=world.owner_a.headers)).json()
    assert after["status"] == "active"
    assert after["plan"] == "levier_starter"
    stored = await account_of(app, world.agency_a.id)
    assert stored.trial_used is True
    assert stored.metered is True  # the subscription carries the metered prices

    again = await checkout(
        client, agency_url(world.agency_a.id, "/checkout-sessions"), world.owner_a, "levier_growth"
    )
    assert "customer portal" in problem(again, 409)["detail"]


async def test_an_unknown_plan_is_refused_and_nothing_is_created(
    app: Litestar, client: httpx.AsyncClient, settings: Settings, stripe: FakeStripe
) -> None:
    world = await make_world(app)
    await sync_plans(app, settings)
    response = await checkout(
        client, agency_url(world.agency_a.id, "/checkout-sessions"), world.owner_a, "levier_gold"
    )
    body = problem(response, 422)
    assert body["errors"][0]["field"] == "plan"
    assert stripe.customers == {}
    assert await _accounts(app) == 0


@pytest.mark.parametrize(
    ("path", "fault", "slug"),
    [
        (
            "/v1/checkout/sessions",
            Fault(status=500, error={"error": {"type": "api_error", "message": "Stripe broke"}}),
            "stripe-error",
        ),
        ("/v1/checkout/sessions", Fault(delay=2.4), "stripe-unavailable"),
        (
            "/v1/customers",
            Fault(
                status=400,
                error={
                    "error": {"type": "invalid_request_error", "message": "Invalid email address"}
                },
            ),
            "stripe-error",
        ),
    ],
    ids=["checkout-error", "checkout-timeout", "customer-refused"],
)
async def test_stripe_failing_during_a_checkout_is_a_502_and_nothing_is_half_created(
    app: Litestar,
    client: httpx.AsyncClient,
    settings: Settings,
    stripe: FakeStripe,
    path: str,
    fault: Fault,
    slug: str,
) -> None:
    world = await make_world(app)
    await sync_plans(app, settings)
    stripe.fail(path, fault)
    url = agency_url(world.agency_a.id, "/checkout-sessions")
    failed = problem(await checkout(client, url, world.owner_a, "levier_growth"), 502)
    assert failed["type"].endswith(f":{slug}")
    assert await _accounts(app) == 0
    # Trying again goes through, and Stripe holds one customer for the agency: the one its
    # first attempt created (if any) is found again, not made twice.
    retried = await checkout(client, url, world.owner_a, "levier_growth")
    assert retried.status_code == 201, retried.text
    assert len(stripe.customers) == 1
    assert (await account_of(app, world.agency_a.id)).stripe_customer_id in stripe.customers


async def test_the_portal_opens_on_the_agency_customer_and_invoices_are_listed_page_by_page(
    app: Litestar, client: httpx.AsyncClient, settings: Settings, stripe: FakeStripe
) -> None:
    world = await make_world(app)
    await sync_plans(app, settings)
    before = await client.post(
        agency_url(world.agency_a.id, "/portal-sessions"),
        json={"returnUrl": CANCEL},
        headers=world.owner_a.headers,
    )
    assert "checkout" in problem(before, 409)["detail"]
    subscribed = await subscribe(client, app, settings, stripe, world)
    portal = await client.post(
        agency_url(world.agency_a.id, "/portal-sessions"),
        json={"returnUrl": CANCEL},
        headers=world.owner_a.headers,
    )
    assert portal.status_code == 201, portal.text
    (opened,) = stripe.portal_sessions.values()
    assert opened["customer"] == subscribed.customer_id
    assert opened["return_url"] == CANCEL
    assert portal.json()["url"] == opened["url"]
    for _ in range(3):
        stripe.invoice(subscribed.subscription_id, paid=True)
    first = await client.get(
        agency_url(world.agency_a.id, "/invoices?limit=2"), headers=world.admin_a.headers
    )
    assert first.status_code == 200, first.text
    page = first.json()
    assert [i["number"] for i in page["items"]] == ["LV-0003", "LV-0002"]
    assert page["items"][0]["customerId"] == subscribed.customer_id
    second = await client.get(
        agency_url(world.agency_a.id, f"/invoices?limit=2&cursor={page['nextCursor']}"),
        headers=world.admin_a.headers,
    )
    assert [i["number"] for i in second.json()["items"]] == ["LV-0001"]
    assert second.json()["nextCursor"] is None
    data = await gql_data(
        client,
        "query($a: ID!) { invoices(agency: $a, first: 2) { nodes { number total } "
        "pageInfo { hasNextPage endCursor } } }",
        world.owner_a,
        {"a": str(world.agency_a.id)},
    )
    assert [n["number"] for n in data["invoices"]["nodes"]] == ["LV-0003", "LV-0002"]
    assert data["invoices"]["pageInfo"]["hasNextPage"] is True


async def test_a_brand_on_a_subscription_of_its_own_under_the_agency_customer(
    app: Litestar, client: httpx.AsyncClient, settings: Settings, stripe: FakeStripe
) -> None:
    world = await make_world(app)
    await sync_plans(app, settings)
    agency = await subscribe(client, app, settings, stripe, world)
    refused = await checkout(
        client, brand_url(world.brand_a.id, "/checkout-sessions"), world.owner_a, "levier_starter"
    )
    assert "billed with its agency" in problem(refused, 409)["detail"]
    mode = await client.put(
        brand_url(world.brand_a.id), json={"mode": "subscription"}, headers=world.owner_a.headers
    )
    assert mode.status_code == 200, mode.text
    brand = await subscribe(
        client, app, settings, stripe, world, "levier_starter", brand_id=world.brand_a.id
    )
    # Same customer, a second subscription; the metered prices stay on the agency's one.
    assert brand.customer_id == agency.customer_id
    assert brand.subscription_id != agency.subscription_id
    assert len(stripe.customers) == 1
    lines = stripe.checkout_sessions[brand.checkout_id]["line_items"]
    assert [item["price"] for item in lines] == [stripe.price_by_key("levier_starter")["id"]]
    own = (await client.get(brand_url(world.brand_a.id), headers=world.owner_a.headers)).json()
    assert own["mode"] == "subscription"
    assert own["plan"] == "levier_starter"
    assert own["status"] == "active" or own["status"] == "trialing"
    assert own["coveredBrandIds"] == [str(world.brand_a.id)]
    agency_view = (
        await client.get(agency_url(world.agency_a.id), headers=world.owner_a.headers)
    ).json()
    assert str(world.brand_a.id) not in agency_view["coveredBrandIds"]
    modes = {b["brandId"]: b for b in agency_view["brands"]}
    assert modes[str(world.brand_a.id)]["mode"] == "subscription"
    stripe.invoice(agency.subscription_id, paid=True)
    stripe.invoice(brand.subscription_id, paid=True)
    brand_invoices = await client.get(
        brand_url(world.brand_a.id, "/invoices"), headers=world.owner_a.headers
    )
    assert len(brand_invoices.json()["items"]) == 1  # its own subscription's only
    agency_invoices = await client.get(
        agency_url(world.agency_a.id, "/invoices"), headers=world.owner_a.headers
    )
    assert len(agency_invoices.json()["items"]) == 2  # everything its customer is billed


async def test_a_brand_billed_as_a_customer_of_its_own(
    app: Litestar, client: httpx.AsyncClient, settings: Settings, stripe: FakeStripe
) -> None:
    world = await make_world(app)
    await sync_plans(app, settings)
    data = await gql_data(
        client,
        "mutation($b: ID!) { setBrandBilling(brand: $b, input: {mode: CUSTOMER}) "
        "{ ... on Billing { brands { mode } } ... on OperationError { detail } } }",
        world.owner_a,
        {"b": str(world.brand_a.id)},
    )
    assert data["setBrandBilling"]["brands"] == [{"mode": "CUSTOMER"}]
    brand = await subscribe(
        client, app, settings, stripe, world, "levier_starter", brand_id=world.brand_a.id
    )
    customer = stripe.customers[brand.customer_id]
    assert customer["name"] == "Agency A — Brand A"
    assert customer["metadata"]["levier_brand_id"] == str(world.brand_a.id)
    lines = {i["price"] for i in stripe.checkout_sessions[brand.checkout_id]["line_items"]}
    assert stripe.price_by_key("levier_email_usage")["id"] in lines  # it carries its own
    account = await account_of(app, world.agency_a.id, world.brand_a.id)
    assert account.mode is BillingMode.CUSTOMER
    assert account.status is SubscriptionStatus.TRIALING
    # The agency itself never subscribed: no account of its own.
    agency_view = (
        await client.get(agency_url(world.agency_a.id), headers=world.owner_a.headers)
    ).json()
    assert agency_view["status"] == "none"
    assert agency_view["coveredBrandIds"] == []


async def test_a_brand_on_a_live_subscription_of_its_own_keeps_its_mode_until_canceled(
    app: Litestar, client: httpx.AsyncClient, settings: Settings, stripe: FakeStripe
) -> None:
    world = await make_world(app)
    await sync_plans(app, settings)
    await client.put(
        brand_url(world.brand_a.id), json={"mode": "customer"}, headers=world.owner_a.headers
    )
    brand = await subscribe(
        client, app, settings, stripe, world, "levier_growth", brand_id=world.brand_a.id
    )
    back = await client.put(
        brand_url(world.brand_a.id), json={"mode": "agency"}, headers=world.owner_a.headers
    )
    assert "cancel it" in problem(back, 409)["detail"]
    deleted = await client.delete(f"/v1/brands/{world.brand_a.id}", headers=world.owner_a.headers)
    assert "cancel it" in problem(deleted, 409)["detail"]
    await deliver(client, stripe.update_subscription(brand.subscription_id, status="canceled"))
    await apply_events(app, settings)
    again = await client.put(
        brand_url(world.brand_a.id), json={"mode": "agency"}, headers=world.owner_a.headers
    )
    assert again.status_code == 200, again.text
    assert again.json()["brands"][0]["mode"] == "agency"
    assert await _accounts(app) == 0


async def test_graphql_checkout_answers_an_unknown_plan_as_an_operation_error(
    app: Litestar, client: httpx.AsyncClient, settings: Settings, stripe: FakeStripe
) -> None:
    world = await make_world(app)
    await sync_plans(app, settings)
    mutation = (
        "mutation($a: ID!, $p: String!) { createCheckoutSession(agency: $a, input: "
        f'{{plan: $p, successUrl: "{SUCCESS}", cancelUrl: "{CANCEL}"}}) '
        "{ ... on CheckoutSession { url } ... on OperationError { problemType detail } } }"
    )
    variables: dict[str, Any] = {"a": str(world.agency_a.id), "p": "levier_gold"}
    refused = await gql_data(client, mutation, world.owner_a, variables)
    assert refused["createCheckoutSession"]["problemType"].endswith(":invalid-input")
    variables["p"] = "levier_growth"
    started = await gql_data(client, mutation, world.owner_a, variables)
    assert started["createCheckoutSession"]["url"].startswith("https://checkout.stripe.test/")
    # An admin reads billing but does not subscribe the agency.
    denied = await gql(client, mutation, world.admin_a, variables)
    assert denied["errors"][0]["extensions"]["status"] == 403
