"""Orders: recorded per profile with their lines, unique order id per brand, re-pointed by
merges, gone with their profile."""

from __future__ import annotations

from typing import Any

import httpx
from litestar import Litestar

from tests.factories import World, make_world, problem
from tests.profiles.helpers import brand_url, create_profile, fields_of


def order(order_id: str = "W-1", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "orderId": order_id,
        "occurredAt": "2026-11-20T17:30:00+01:00",
        "amount": "49.90",
        "currency": "EUR",
        "store": "Liège-Rocourt",
        "channel": "drive",
        "lines": [
            {"product": "SKU-1", "category": "bakery", "quantity": 2, "price": "1.95"},
            {"product": "SKU-2", "quantity": "0.750", "price": 12},
        ],
    }
    return {**body, **overrides}


async def post_order(
    client: httpx.AsyncClient, world: World, profile_id: str, body: dict[str, Any]
) -> httpx.Response:
    return await client.post(
        brand_url(world, f"/profiles/{profile_id}/orders"),
        json=body,
        headers=world.manager_a.headers,
    )


async def orders_of(client: httpx.AsyncClient, world: World, profile_id: str) -> list[Any]:
    response = await client.get(
        brand_url(world, f"/profiles/{profile_id}/orders"), headers=world.viewer_a.headers
    )
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


async def test_order_is_recorded_with_its_lines_and_exact_amounts(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    profile = await create_profile(client, world, email="a@example.com")
    response = await post_order(client, world, profile["id"], order())
    assert response.status_code == 201, response.text
    [stored] = await orders_of(client, world, profile["id"])
    assert stored["orderId"] == "W-1"
    assert stored["occurredAt"] == "2026-11-20T16:30:00Z"
    assert (stored["amount"], stored["currency"], stored["store"], stored["channel"]) == (
        "49.9000",
        "EUR",
        "Liège-Rocourt",
        "drive",
    )
    assert [
        (li["product"], li["category"], li["quantity"], li["price"]) for li in stored["lines"]
    ] == [
        ("SKU-1", "bakery", "2.000", "1.9500"),
        ("SKU-2", None, "0.750", "12.0000"),
    ]


async def test_duplicate_order_id_answers_409_and_records_nothing(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    first = await create_profile(client, world, email="a@example.com")
    second = await create_profile(client, world, email="b@example.com")
    assert (await post_order(client, world, first["id"], order())).status_code == 201
    response = await post_order(client, world, second["id"], order(amount="1"))
    assert fields_of(problem(response, 409)) == ["orderId"]
    assert await orders_of(client, world, second["id"]) == []


async def test_bad_currency_and_quantity_are_refused_naming_the_field(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    profile = await create_profile(client, world, email="a@example.com")
    response = await post_order(client, world, profile["id"], order(currency="euro"))
    assert fields_of(problem(response, 422)) == ["currency"]
    response = await post_order(
        client, world, profile["id"], order(lines=[{"product": "x", "quantity": 0, "price": 1}])
    )
    assert fields_of(problem(response, 422)) == ["lines[0].quantity"]
    assert await orders_of(client, world, profile["id"]) == []


async def test_merge_re_points_orders_to_the_survivor(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    older = await create_profile(client, world, email="a@example.com")
    newer = await create_profile(client, world, email="b@example.com")
    await post_order(client, world, older["id"], order("W-1"))
    await post_order(client, world, newer["id"], order("W-2"))
    response = await client.post(
        brand_url(world, f"/profiles/{newer['id']}/merge"),
        json={"otherId": older["id"]},
        headers=world.manager_a.headers,
    )
    assert response.status_code == 200, response.text
    stored = await orders_of(client, world, older["id"])
    assert sorted(o["orderId"] for o in stored) == ["W-1", "W-2"]
    assert {o["profileId"] for o in stored} == {older["id"]}
    assert all(len(o["lines"]) == 2 for o in stored)


async def test_deleted_profile_takes_its_orders_along(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    profile = await create_profile(client, world, email="a@example.com")
    await post_order(client, world, profile["id"], order("W-1"))
    response = await client.delete(
        brand_url(world, f"/profiles/{profile['id']}"), headers=world.manager_a.headers
    )
    assert response.status_code == 204, response.text
    other = await create_profile(client, world, email="b@example.com")
    assert (await post_order(client, world, other["id"], order("W-1"))).status_code == 201
