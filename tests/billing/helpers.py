"""What billing tests share: syncing the plans, Stripe's webhooks delivered signed, the events
applied as the job applies them, and an agency subscribed end to end."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
from litestar import Litestar
from sqlalchemy import select

from backend.billing import catalogue, events
from backend.billing.models import BillingAccount, StripeEvent
from backend.config import Settings
from tests.billing.stripe_server import FakeStripe, signed
from tests.factories import Person, World, session_of

WEBHOOK = "/v1/billing/stripe/webhook"
SUCCESS = "https://app.agency.test/billing?done=1"
CANCEL = "https://app.agency.test/billing"


def agency_url(agency_id: UUID, path: str = "") -> str:
    return f"/v1/agencies/{agency_id}/billing{path}"


def brand_url(brand_id: UUID, path: str = "") -> str:
    return f"/v1/brands/{brand_id}/billing{path}"


async def sync_plans(app: Litestar, settings: Settings) -> None:
    async with session_of(app) as session:
        await catalogue.sync(session, settings)
        await session.commit()


async def deliver(
    client: httpx.AsyncClient, event: dict[str, Any], *, timestamp: int | None = None
) -> httpx.Response:
    """Post ``event`` to the webhook as Stripe does: the raw JSON, signed."""
    body = json.dumps(event).encode()
    return await client.post(
        WEBHOOK,
        content=body,
        headers={
            "content-type": "application/json",
            "stripe-signature": signed(body, timestamp=timestamp),
        },
    )


async def deliver_all(client: httpx.AsyncClient, found: list[dict[str, Any]]) -> None:
    for event in found:
        response = await deliver(client, event)
        assert response.status_code == 200, response.text


async def apply_events(app: Litestar, settings: Settings) -> int:
    """What the ``billing.apply_events`` jobs do, for every key with waiting events (each in
    a transaction of its own); how many events were applied."""
    async with session_of(app) as session:
        keys = list(
            (
                await session.scalars(
                    select(StripeEvent.ordering_key)
                    .where(StripeEvent.processed_at.is_(None))
                    .group_by(StripeEvent.ordering_key)
                )
            ).all()
        )
    applied = 0
    for key in keys:
        async with session_of(app) as session:
            applied += (await events.apply_waiting(session, settings, key)).count
            await session.commit()
    return applied


async def account_of(
    app: Litestar, agency_id: UUID, brand_id: UUID | None = None
) -> BillingAccount:
    async with session_of(app) as session:
        query = select(BillingAccount).where(BillingAccount.agency_id == agency_id)
        query = query.where(
            BillingAccount.brand_id == brand_id
            if brand_id is not None
            else BillingAccount.brand_id.is_(None)
        )
        account = await session.scalar(query)
    assert account is not None
    return account


@dataclass(frozen=True)
class Subscribed:
    checkout_id: str
    subscription_id: str
    customer_id: str


async def checkout(
    client: httpx.AsyncClient, url: str, person: Person, plan: str
) -> httpx.Response:
    return await client.post(
        url,
        json={"plan": plan, "successUrl": SUCCESS, "cancelUrl": CANCEL},
        headers=person.headers,
    )


async def subscribe(
    client: httpx.AsyncClient,
    app: Litestar,
    settings: Settings,
    stripe: FakeStripe,
    world: World,
    plan: str = "levier_growth",
    *,
    brand_id: UUID | None = None,
) -> Subscribed:
    """The owner checks out, pays on Stripe's page, Stripe's webhooks arrive and are applied."""
    url = (
        brand_url(brand_id, "/checkout-sessions")
        if brand_id is not None
        else agency_url(world.agency_a.id, "/checkout-sessions")
    )
    response = await checkout(client, url, world.owner_a, plan)
    assert response.status_code == 201, response.text
    session_id = response.json()["id"]
    await deliver_all(client, stripe.complete_checkout(session_id))
    await apply_events(app, settings)
    done = stripe.checkout_sessions[session_id]
    return Subscribed(session_id, done["subscription"], done["customer"])
