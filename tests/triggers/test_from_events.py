"""Triggers raised by events sent over the API: event triggers once per event, and abandoned-cart
checks armed by ``cart_updated`` and dropped by ``cart_cleared`` or an order."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
import pytest
from litestar import Litestar

from backend.triggers.models import TriggerKind
from tests.factories import World, make_world, run_jobs
from tests.profiles.helpers import brand_url
from tests.triggers.helpers import at, define_trigger, occurrences
from workers.scheduler import Scheduler

pytestmark = pytest.mark.worker


async def send(client: httpx.AsyncClient, world: World, **event: Any) -> dict[str, Any]:
    response = await client.post(
        brand_url(world, "/events"), json=event, headers=world.manager_a.headers
    )
    assert response.status_code in (200, 202), response.text
    body: dict[str, Any] = response.json()
    return body


async def test_an_event_raises_its_trigger_once(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    await define_trigger(
        app, brand, "signed_up", TriggerKind.EVENT, "2026-01-01T00:00:00", event_name="sign_up"
    )
    event = {"eventId": "e-1", "name": "sign_up", "email": "ada@example.com"}
    stored = await send(client, world, **event)
    await send(client, world, name="page_viewed", eventId="e-2", email="ada@example.com")
    again = await send(client, world, **event)  # a re-sent event raises nothing new
    assert again["id"] == stored["id"]
    [raised] = await occurrences(app, brand)
    assert (raised.type, raised.dedupe_key) == ("signed_up", stored["id"])
    assert raised.profile_id == UUID(stored["profileId"])


async def test_cart_events_arm_and_disarm_abandoned_cart_checks(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    await define_trigger(
        app,
        brand,
        "cart_left",
        TriggerKind.ABANDONED_CART,
        "2026-01-01T00:00:00",
        delay_minutes=60,
    )
    items = [{"sku": "A-1", "quantity": 1}]
    left = await send(
        client,
        world,
        eventId="c-1",
        name="cart_updated",
        email="left@example.com",
        occurredAt="2026-01-05T10:00:00Z",
        properties={"cartId": "basket", "items": items},
    )
    for event_id, name, properties in (
        ("c-2", "cart_updated", {"cartId": "basket", "items": items}),
        ("c-3", "order_completed", {"orderId": "O-1", "amount": "10", "currency": "EUR"}),
        ("c-4", "cart_updated", {"items": items}),
        ("c-5", "cart_cleared", {}),
    ):
        await send(
            client,
            world,
            eventId=event_id,
            name=name,
            email="bought@example.com",
            occurredAt="2026-01-05T10:00:00Z",
            properties=properties,
        )
    await Scheduler(app.state.session_factory, app.state.relay).tick(at("2026-01-05T11:05:00"))
    await run_jobs(app)
    raised = await occurrences(app, brand, "cart_left")
    # Only the cart nobody ordered nor cleared is abandoned.
    assert [(o.profile_id, o.occurred_at) for o in raised] == [
        (UUID(left["profileId"]), at("2026-01-05T11:00:00"))
    ]
