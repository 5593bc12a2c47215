"""Order imports: upsert on orderId, the profile found by id or identity key, NDJSON lines."""

from __future__ import annotations

import httpx
import pytest
from litestar import Litestar

from tests.factories import make_world
from tests.imports.helpers import NDJSON, imported, ndjson, rejections
from tests.profiles.helpers import brand_url, create_profile

pytestmark = pytest.mark.worker


async def orders_of(client: httpx.AsyncClient, world, profile_id: str) -> list[dict]:  # type: ignore[no-untyped-def]
    response = await client.get(
        brand_url(world, f"/profiles/{profile_id}/orders"), headers=world.viewer_a.headers
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


async def test_csv_orders_find_their_profile_by_email_or_id(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    ada = await create_profile(client, world, email="ada@example.com")
    body = (
        "orderId,email,profileId,occurredAt,amount,currency,store\n"
        "W-1,ada@example.com,,2026-11-01T10:00:00+01:00,49.90,EUR,S1\n"
        f"W-2,,{ada['id']},2026-11-02T10:00:00+01:00,10,EUR,\n"
        "W-3,nobody@example.com,,2026-11-02T10:00:00+01:00,10,EUR,\n"
    )
    result = await imported(app, client, world, body, kind="orders")
    assert (result["created"], result["rejected"]) == (2, 1)
    orders = await orders_of(client, world, ada["id"])
    assert [(o["orderId"], o["amount"]) for o in orders] == [("W-1", "49.9000"), ("W-2", "10.0000")]
    (rejection,) = await rejections(client, world, result["id"])
    assert (rejection["line"], rejection["reason"]) == (4, "no profile has these identity keys")


async def test_orders_upsert_on_order_id_and_replace_lines(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    ada = await create_profile(client, world, email="ada@example.com")
    first = {
        "orderId": "W-1",
        "email": "ada@example.com",
        "occurredAt": "2026-11-01T10:00:00Z",
        "amount": "20",
        "currency": "EUR",
        "lines": [{"product": "tea", "quantity": 2, "price": "5"}],
    }
    await imported(app, client, world, ndjson(first), kind="orders", content_type=NDJSON)
    second = {**first, "amount": "30", "lines": [{"product": "cake", "quantity": 1, "price": "30"}]}
    result = await imported(app, client, world, ndjson(second), kind="orders", content_type=NDJSON)
    assert (result["created"], result["updated"]) == (0, 1)
    (order,) = await orders_of(client, world, ada["id"])
    assert order["amount"] == "30.0000"
    assert [line["product"] for line in order["lines"]] == ["cake"]


async def test_order_create_mode_rejects_known_order_ids(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await create_profile(client, world, email="ada@example.com")
    body = (
        "orderId,email,occurredAt,amount,currency\nW-1,ada@example.com,2026-11-01T10:00:00Z,1,EUR\n"
    )
    await imported(app, client, world, body, kind="orders")
    result = await imported(app, client, world, body, kind="orders", mode="create")
    assert (result["created"], result["rejected"]) == (0, 1)


async def test_order_rows_with_bad_values_are_rejected_with_the_field(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await create_profile(client, world, email="ada@example.com")
    body = (
        "orderId,email,occurredAt,amount,currency\n"
        "W-1,ada@example.com,2026-11-01T10:00:00Z,lots,EUR\n"
        "W-2,ada@example.com,2026-11-01T10:00:00,1,EUR\n"
    )
    result = await imported(app, client, world, body, kind="orders")
    reasons = [r["reason"] for r in await rejections(client, world, result["id"])]
    assert "amount" in reasons[0]
    assert reasons[1].startswith("occurredAt")


async def test_an_order_naming_a_merged_profile_goes_to_the_survivor(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    older = await create_profile(client, world, email="old@example.com")
    newer = await create_profile(client, world, email="new@example.com")
    merged = await client.post(
        brand_url(world, f"/profiles/{newer['id']}/merge"),
        json={"otherId": older["id"]},
        headers=world.manager_a.headers,
    )
    assert merged.status_code == 200, merged.text
    body = (
        "orderId,profileId,occurredAt,amount,currency\n"
        f"M-1,{newer['id']},2026-11-01T10:00:00Z,12,EUR\n"
    )
    result = await imported(app, client, world, body, kind="orders")
    assert (result["created"], result["rejected"]) == (1, 0)
    assert [o["orderId"] for o in await orders_of(client, world, older["id"])] == ["M-1"]
