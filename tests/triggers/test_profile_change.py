"""Profile-change triggers: raised when a watched field or attribute changes (to a given value,
when one is named), once per change, never by a write that changes nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from litestar import Litestar

from tests.factories import World, make_world, problem
from tests.profiles.helpers import brand_url, create_profile
from tests.profiles.helpers import define_attribute as define_profile_attribute


async def define(client: httpx.AsyncClient, world: World, **body: Any) -> httpx.Response:
    body = {"label": body["key"], "kind": "profile_change", **body}
    return await client.post(
        brand_url(world, "/triggers"), json=body, headers=world.manager_a.headers
    )


async def raised(client: httpx.AsyncClient, world: World, type: str) -> list[dict[str, Any]]:
    response = await client.get(
        brand_url(world, "/triggers/occurrences"),
        params={"type": type},
        headers=world.viewer_a.headers,
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def patch(client: httpx.AsyncClient, world: World, profile: str, **body: Any) -> None:
    response = await client.patch(
        brand_url(world, f"/profiles/{profile}"), json=body, headers=world.manager_a.headers
    )
    assert response.status_code == 200, response.text


async def test_a_change_to_the_named_value_raises_once(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await define_profile_attribute(
        client, world, key="tier", type="enum", options=["gold", "silver"]
    )
    created = await define(
        client, world, key="became_gold", changedField="attributes.tier", changedTo="gold"
    )
    assert created.status_code == 201, created.text
    assert (created.json()["changedField"], created.json()["changedTo"]) == (
        "attributes.tier",
        "gold",
    )
    ada = await create_profile(
        client, world, email="ada@example.com", attributes={"tier": "silver"}
    )
    assert await raised(client, world, "became_gold") == []
    await patch(client, world, ada["id"], attributes={"tier": "gold"})
    await patch(client, world, ada["id"], attributes={"tier": "gold"})  # no change: nothing
    await patch(client, world, ada["id"], firstName="Ada")  # another field: nothing
    [occurrence] = await raised(client, world, "became_gold")
    assert occurrence["profileId"] == ada["id"]
    assert occurrence["payload"] == {"field": "attributes.tier", "value": "gold"}


async def test_every_change_of_a_watched_field_counts_creation_included(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    assert (
        await define(client, world, key="moved", changedField="preferredStore")
    ).status_code == 201
    bea = await create_profile(client, world, email="bea@example.com", preferredStore="namur")
    await patch(client, world, bea["id"], preferredStore="liege")
    await patch(client, world, bea["id"], preferredStore="liege")
    values = [o["payload"]["value"] for o in await raised(client, world, "moved")]
    assert sorted(values) == ["liege", "namur"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"changedField": "attributes.nope"}, "changedField"),
        ({"changedField": "shoeSize"}, "changedField"),
        ({}, "changedField"),
        ({"changedField": "email", "delayMinutes": 5}, "delayMinutes"),
    ],
)
async def test_bad_settings_are_refused_naming_the_field(
    app: Litestar, client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    world = await make_world(app)
    body = problem(await define(client, world, key="bad", **body), 422)
    assert field in {e["field"] for e in body["errors"]}
    listed = await client.get(brand_url(world, "/triggers"), headers=world.viewer_a.headers)
    assert listed.json()["items"] == []
