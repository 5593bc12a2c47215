"""Standard commerce events: order_completed records the order and converts the open cart;
cart_updated / cart_cleared keep the live cart; idle open carts are found for abandonment."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
from litestar import Litestar

from backend.core.pagination import PageRequest
from backend.events import service
from tests.events.helpers import event, send, send_batch
from tests.factories import World, make_world, session_of
from tests.profiles.helpers import brand_url, create_profile


async def carts_of(client: httpx.AsyncClient, world: World, profile_id: str) -> list[Any]:
    response = await client.get(
        brand_url(world, f"/profiles/{profile_id}/carts"), headers=world.viewer_a.headers
    )
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


async def orders_of(client: httpx.AsyncClient, world: World, profile_id: str) -> list[Any]:
    response = await client.get(
        brand_url(world, f"/profiles/{profile_id}/orders"), headers=world.viewer_a.headers
    )
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


ITEMS = [{"product": "SKU-1", "quantity": 2, "price": "9.50"}]


async def test_cart_updated_then_cleared_keeps_the_live_cart(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    profile = await create_profile(client, world, email="a@example.com")
    await send_batch(
        client,
        world,
        [
            event(
                "c1",
                "cart_updated",
                profileId=profile["id"],
                occurredAt="2026-11-20T10:00:00Z",
                properties={"cartId": "K1", "items": ITEMS, "total": "19.00", "currency": "EUR"},
            )
        ],
    )
    [cart] = await carts_of(client, world, profile["id"])
    assert (cart["cartId"], cart["status"], cart["items"], cart["total"], cart["currency"]) == (
        "K1",
        "open",
        ITEMS,
        "19.0000",
        "EUR",
    )
    assert cart["changedAt"] == "2026-11-20T10:00:00Z"
    cleared = event("c2", "cart_cleared", profileId=profile["id"], properties={"cartId": "K1"})
    assert (await send(client, world, cleared)).status_code == 202
    [cart] = await carts_of(client, world, profile["id"])
    assert (cart["status"], cart["items"], cart["total"]) == ("cleared", [], None)


async def test_order_completed_records_the_order_and_converts_the_open_cart(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    profile = await create_profile(client, world, email="a@example.com")
    cart = event("c1", "cart_updated", profileId=profile["id"], properties={"items": ITEMS})
    order = event(
        "o1",
        "order_completed",
        profileId=profile["id"],
        occurredAt="2026-11-20T17:30:00+01:00",
        properties={
            "orderId": "W-1",
            "amount": "19.00",
            "currency": "EUR",
            "store": "Liège",
            "channel": "web",
            "lines": [{"product": "SKU-1", "quantity": 2, "price": "9.50"}],
            "coupon": "WELCOME",
        },
    )
    body = await send_batch(client, world, [cart, order])
    assert [r["outcome"] for r in body["results"]] == ["accepted", "accepted"]
    [stored] = await orders_of(client, world, profile["id"])
    assert (stored["orderId"], stored["amount"], stored["currency"], stored["store"]) == (
        "W-1",
        "19.0000",
        "EUR",
        "Liège",
    )
    assert stored["occurredAt"] == "2026-11-20T16:30:00Z"
    assert [(li["product"], li["quantity"]) for li in stored["lines"]] == [("SKU-1", "2.000")]
    [converted] = await carts_of(client, world, profile["id"])
    assert converted["status"] == "converted"
    # Sent again: a duplicate, and no second order.
    again = await send(client, world, order)
    assert again.status_code == 200
    assert len(await orders_of(client, world, profile["id"])) == 1


async def test_order_completed_with_bad_properties_is_rejected_and_records_nothing(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    profile = await create_profile(client, world, email="a@example.com")
    body = await send_batch(
        client,
        world,
        [
            event("o1", "order_completed", profileId=profile["id"], properties={"amount": "1"}),
            event(
                "o2",
                "order_completed",
                profileId=profile["id"],
                properties={
                    "orderId": "W-2",
                    "amount": "5",
                    "currency": "EUR",
                    "lines": [{"product": "X", "quantity": 0, "price": "5"}],
                },
            ),
        ],
    )
    assert [r["outcome"] for r in body["results"]] == ["rejected", "rejected"]
    assert body["results"][1]["errors"][0]["field"] == "properties.lines[0].quantity"
    assert await orders_of(client, world, profile["id"]) == []


async def test_open_carts_idle_since_a_time_are_listed_for_abandonment(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    idle = await create_profile(client, world, email="idle@example.com")
    fresh = await create_profile(client, world, email="fresh@example.com")
    now = dt.datetime.now(dt.UTC)
    old = (now - dt.timedelta(hours=3)).isoformat()
    await send_batch(
        client,
        world,
        [
            event(
                "c1",
                "cart_updated",
                profileId=idle["id"],
                occurredAt=old,
                properties={"items": ITEMS},
            ),
            event("c2", "cart_updated", profileId=fresh["id"], properties={"items": ITEMS}),
        ],
    )
    async with session_of(app, world.brand_a.id) as session:
        carts, cursor = await service.open_carts_idle_since(
            session, now - dt.timedelta(hours=1), PageRequest()
        )
    assert [str(c.profile_id) for c in carts] == [idle["id"]]
    assert cursor is None
    async with session_of(app, world.brand_b.id) as session:
        others, _ = await service.open_carts_idle_since(session, now, PageRequest())
    assert others == []


async def test_carts_of_another_brand_are_out_of_reach(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    profile = await create_profile(client, world, email="a@example.com")
    response = await client.get(
        brand_url(world, f"/profiles/{profile['id']}/carts"), headers=world.owner_b.headers
    )
    assert response.status_code == 404
    response = await client.get(
        f"/v1/brands/{world.brand_b.id}/profiles/{profile['id']}/carts",
        headers=world.owner_b.headers,
    )
    assert response.status_code == 404
