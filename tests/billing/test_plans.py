"""Plans synced from Stripe by lookup key (the service and `levier billing sync-plans`), what
they grant, refusals that store nothing, and the embedded default without Stripe: one unlimited
plan, and billing routes that answer what is not configured."""

from __future__ import annotations

import json
import os
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from litestar import Litestar
from sqlalchemy import select

from backend.billing import catalogue
from backend.billing.models import BillingPrice, PriceKind
from backend.billing.stripe_api import StripeRefused
from backend.cli import main
from backend.config import Settings
from backend.core.errors import InvalidInput
from tests.billing.conftest import GROWTH
from tests.billing.helpers import WEBHOOK, agency_url, brand_url, deliver, sync_plans
from tests.billing.stripe_server import FakeStripe, Fault
from tests.factories import make_brand, make_world, problem, session_of


async def _prices(app: Litestar) -> dict[str, BillingPrice]:
    async with session_of(app) as session:
        return {p.lookup_key: p for p in (await session.scalars(select(BillingPrice))).all()}


async def test_sync_stores_plans_with_their_entitlements_and_metered_prices_on_their_meters(
    app: Litestar, settings: Settings, stripe: FakeStripe
) -> None:
    await sync_plans(app, settings)
    prices = await _prices(app)
    assert set(prices) == {
        "levier_starter",
        "levier_growth",
        "levier_email_usage",
        "levier_sms_usage",
        "levier_profiles_usage",
    }
    starter = prices["levier_starter"]
    assert starter.kind is PriceKind.PLAN
    assert starter.stripe_price_id == stripe.price_by_key("levier_starter")["id"]
    assert starter.trial_days == 14
    assert starter.entitlements == {
        "brands": 2,
        "profiles": 5,
        "messages": {"email": 10, "sms": 4, "push": None},
        "ab_tests": False,
        "live_content": True,
        "api_rate_tier": "standard",
    }
    assert prices["levier_growth"].entitlements["ab_tests"] is True
    assert prices["levier_growth"].entitlements["messages"]["push"] is None  # absent: unlimited
    assert prices["levier_email_usage"].kind is PriceKind.METERED
    assert prices["levier_email_usage"].meter_event_name == "levier_messages_email"
    assert prices["levier_profiles_usage"].meter_event_name == "levier_profiles"


async def test_plans_are_listed_to_owners_with_what_they_grant(
    app: Litestar, client: httpx.AsyncClient, settings: Settings, stripe: FakeStripe
) -> None:
    world = await make_world(app)
    await sync_plans(app, settings)
    response = await client.get(
        agency_url(world.agency_a.id, "/plans"), headers=world.owner_a.headers
    )
    assert response.status_code == 200, response.text
    plans = {p["plan"]: p for p in response.json()["items"]}
    assert set(plans) == {"levier_starter", "levier_growth"}  # metered prices are not plans
    assert plans["levier_growth"]["entitlements"]["messagesEmail"] == int(
        GROWTH["levier_messages_email"]
    )
    assert plans["levier_starter"]["trialDays"] == 14


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"unknown": True}, "levier_growth"),
        ({"metadata": {"levier_brands": "lots"}}, "levier_brands"),
        ({"metered_as_plan": True}, "levier_growth"),
    ],
    ids=["unknown-lookup-key", "entitlement-not-a-number", "metered-price-named-a-plan"],
)
async def test_a_sync_that_cannot_be_whole_stores_nothing(
    app: Litestar, settings: Settings, stripe: FakeStripe, change: dict[str, Any], field: str
) -> None:
    growth = stripe.price_by_key("levier_growth")
    if change.get("unknown"):
        growth["lookup_key"] = "levier_growth_renamed"
    if "metadata" in change:
        stripe.products[growth["product"]]["metadata"] = change["metadata"]
    if change.get("metered_as_plan"):
        growth["recurring"]["usage_type"] = "metered"
    async with session_of(app) as session:
        with pytest.raises(InvalidInput) as refused:
            await catalogue.sync(session, settings)
    assert field in str(refused.value)
    assert await _prices(app) == {}


async def test_stripe_failing_during_a_sync_is_a_502_and_stores_nothing(
    app: Litestar, settings: Settings, stripe: FakeStripe
) -> None:
    stripe.fail(
        "/v1/prices", Fault(status=500, error={"error": {"type": "api_error", "message": "down"}})
    )
    async with session_of(app) as session:
        with pytest.raises(StripeRefused) as failed:
            await catalogue.sync(session, settings)
    assert failed.value.status == 502
    assert await _prices(app) == {}


async def test_a_price_dropped_from_the_settings_is_kept_inactive(
    app: Litestar, settings: Settings, stripe: FakeStripe
) -> None:
    await sync_plans(app, settings)
    await sync_plans(app, settings.replace(stripe_plans=("levier_growth",)))
    prices = await _prices(app)
    assert prices["levier_starter"].active is False
    assert prices["levier_growth"].active is True


def test_the_sync_plans_command_prints_what_it_stored(
    settings: Settings, stripe: FakeStripe
) -> None:
    env: dict[str, str | None] = {name: None for name in os.environ if name.startswith("LEVIER_")}
    env.update(
        {
            "LEVIER_DATABASE_URL": settings.database_url,
            "LEVIER_STRIPE_SECRET_KEY": settings.stripe_secret_key,
            "LEVIER_STRIPE_API_BASE": settings.stripe_api_base,
            "LEVIER_STRIPE_PLANS": ",".join(settings.stripe_plans),
            "LEVIER_STRIPE_METERED_PRICES": ",".join(settings.stripe_metered_prices),
            "LEVIER_STRIPE_DEFAULT_PLAN": "levier_starter",
        }
    )
    result = CliRunner().invoke(main, ["billing", "sync-plans"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    printed = json.loads(result.stdout)
    assert printed["plans"] == ["levier_starter", "levier_growth"]
    assert printed["metered"] == list(settings.stripe_metered_prices)
    env["LEVIER_STRIPE_PLANS"] = "levier_starter,levier_platinum"
    env["LEVIER_STRIPE_DEFAULT_PLAN"] = None
    refused = CliRunner().invoke(main, ["billing", "sync-plans"], env=env, catch_exceptions=False)
    assert refused.exit_code == 1
    assert json.loads(refused.stderr.strip())["error"] == "invalid-input"
    assert "levier_platinum" in refused.stderr


# Without Stripe ------------------------------------------------------------------------------


@pytest.mark.without_stripe
async def test_without_stripe_the_agency_is_unlimited_and_says_what_is_not_configured(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    for number in range(3):  # no plan bounds the brands
        await make_brand(app, world.agency_a.id, f"Extra {number}")
    response = await client.get(agency_url(world.agency_a.id), headers=world.owner_a.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["configured"] is False
    assert body["state"] == "unlimited"
    assert set(body["missingSettings"]) == {
        "LEVIER_STRIPE_SECRET_KEY",
        "LEVIER_STRIPE_WEBHOOK_SECRET",
        "LEVIER_STRIPE_PLANS",
    }
    assert all(item["limit"] is None for item in body["usage"])
    brand = await client.get(brand_url(world.brand_a.id), headers=world.owner_a.headers)
    assert brand.status_code == 200, brand.text
    assert brand.json()["state"] == "unlimited"
    for path in ("/plans", "/invoices"):
        listed = await client.get(
            agency_url(world.agency_a.id, path), headers=world.owner_a.headers
        )
        assert listed.status_code == 200, listed.text
        assert listed.json() == {"items": [], "nextCursor": None}


@pytest.mark.without_stripe
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        (
            "POST",
            "/checkout-sessions",
            {
                "plan": "levier_growth",
                "successUrl": "https://a.test/s",
                "cancelUrl": "https://a.test/c",
            },
        ),
        ("POST", "/portal-sessions", {"returnUrl": "https://a.test/r"}),
    ],
    ids=["checkout", "portal"],
)
async def test_without_stripe_what_needs_stripe_answers_409_naming_the_settings(
    app: Litestar, client: httpx.AsyncClient, method: str, path: str, body: Any
) -> None:
    world = await make_world(app)
    response = await client.request(
        method, agency_url(world.agency_a.id, path), json=body, headers=world.owner_a.headers
    )
    refused = problem(response, 409)
    assert refused["type"].endswith(":billing-not-configured")
    assert "LEVIER_STRIPE_SECRET_KEY" in refused["detail"]


@pytest.mark.without_stripe
async def test_without_stripe_the_webhook_answers_409_and_stores_nothing(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    response = await deliver(client, {"id": "evt_1", "object": "event", "type": "invoice.paid"})
    assert problem(response, 409)["type"].endswith(":billing-not-configured")
    assert WEBHOOK.endswith("/webhook")
