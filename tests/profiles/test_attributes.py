"""REST: brand-defined profile attributes, and their validation on every profile write."""

from __future__ import annotations

import httpx
import pytest
from litestar import Litestar

from tests.factories import make_world, problem
from tests.profiles.helpers import (
    brand_url,
    create_profile,
    define_attribute,
    fields_of,
    read_profile,
)


async def test_attribute_is_created_read_listed_updated_and_deleted(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    created = await define_attribute(
        client, world, key="tier", type="enum", options=["silver", "gold"], default="silver"
    )
    url = brand_url(world, f"/profile-attributes/{created['id']}")
    read = await client.get(url, headers=world.viewer_a.headers)
    assert read.json()["options"] == ["silver", "gold"]
    listed = await client.get(
        brand_url(world, "/profile-attributes"), headers=world.viewer_a.headers
    )
    assert [a["key"] for a in listed.json()["items"]] == ["tier"]
    updated = await client.patch(
        url,
        json={"label": "Tier", "options": ["silver", "gold", "platinum"]},
        headers=world.manager_a.headers,
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["options"] == ["silver", "gold", "platinum"]
    assert (await client.delete(url, headers=world.manager_a.headers)).status_code == 204
    problem(await client.get(url, headers=world.viewer_a.headers), 404)


async def test_values_of_each_type_are_stored_normalised(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    for key, kind in (
        ("note", "text"),
        ("points", "number"),
        ("vip", "boolean"),
        ("joined", "date"),
        ("last_seen", "datetime"),
    ):
        await define_attribute(client, world, key=key, type=kind)
    await define_attribute(client, world, key="tier", type="enum", options=["silver", "gold"])
    created = await create_profile(
        client,
        world,
        attributes={
            "note": "hello",
            "points": 12.5,
            "vip": True,
            "joined": "2024-02-29",
            "last_seen": "2026-11-25T10:00:00+01:00",
            "tier": "gold",
        },
    )
    assert created["attributes"] == {
        "note": "hello",
        "points": 12.5,
        "vip": True,
        "joined": "2024-02-29",
        "last_seen": "2026-11-25T09:00:00+00:00",
        "tier": "gold",
    }


async def test_default_is_applied_on_create(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    await define_attribute(client, world, key="tier", type="enum", options=["a", "b"], default="a")
    assert (await create_profile(client, world))["attributes"] == {"tier": "a"}


async def test_missing_required_attribute_is_refused_naming_it(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await define_attribute(client, world, key="store_code", type="text", required=True)
    response = await client.post(
        brand_url(world, "/profiles"), json={"firstName": "x"}, headers=world.manager_a.headers
    )
    assert fields_of(problem(response, 422)) == ["attributes.store_code"]


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("number", "12"),
        ("number", True),
        ("boolean", "yes"),
        ("date", "29/02/2024"),
        ("datetime", "2026-11-25T10:00:00"),
        ("text", 12),
    ],
)
async def test_wrongly_typed_value_is_refused_naming_the_attribute(
    app: Litestar, client: httpx.AsyncClient, kind: str, value: object
) -> None:
    world = await make_world(app)
    await define_attribute(client, world, key="field", type=kind)
    response = await client.post(
        brand_url(world, "/profiles"),
        json={"attributes": {"field": value}},
        headers=world.manager_a.headers,
    )
    assert fields_of(problem(response, 422)) == ["attributes.field"]


async def test_enum_value_outside_its_options_is_refused(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await define_attribute(client, world, key="tier", type="enum", options=["silver", "gold"])
    response = await client.post(
        brand_url(world, "/profiles"),
        json={"attributes": {"tier": "bronze"}},
        headers=world.manager_a.headers,
    )
    assert fields_of(problem(response, 422)) == ["attributes.tier"]


async def test_unknown_attribute_is_refused_naming_it(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await client.post(
        brand_url(world, "/profiles"),
        json={"attributes": {"shoe_size": 42}},
        headers=world.manager_a.headers,
    )
    assert fields_of(problem(response, 422)) == ["attributes.shoe_size"]


async def test_duplicate_unique_value_answers_409_naming_the_attribute(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await define_attribute(client, world, key="card_number", type="number", unique=True)
    await create_profile(client, world, attributes={"card_number": 1001})
    response = await client.post(
        brand_url(world, "/profiles"),
        json={"email": "second@example.com", "attributes": {"card_number": 1001.0}},
        headers=world.manager_a.headers,
    )
    assert fields_of(problem(response, 409)) == ["attributes.card_number"]
    listed = await client.get(
        brand_url(world, "/profiles"),
        params={"email": "second@example.com"},
        headers=world.viewer_a.headers,
    )
    assert listed.json()["items"] == []


async def test_unique_value_is_freed_when_its_holder_changes_it(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await define_attribute(client, world, key="card", type="text", unique=True)
    first = await create_profile(client, world, attributes={"card": "A"})
    response = await client.patch(
        brand_url(world, f"/profiles/{first['id']}"),
        json={"attributes": {"card": "B"}},
        headers=world.manager_a.headers,
    )
    assert response.status_code == 200, response.text
    await create_profile(client, world, attributes={"card": "A"})


async def test_deleting_an_attribute_removes_its_values(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    attribute = await define_attribute(client, world, key="note", type="text")
    await define_attribute(client, world, key="kept", type="text")
    created = await create_profile(client, world, attributes={"note": "x", "kept": "y"})
    response = await client.delete(
        brand_url(world, f"/profile-attributes/{attribute['id']}"), headers=world.manager_a.headers
    )
    assert response.status_code == 204, response.text
    assert (await read_profile(client, world, created["id"]))["attributes"] == {"kept": "y"}


async def test_enum_attribute_without_options_is_refused(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await client.post(
        brand_url(world, "/profile-attributes"),
        json={"key": "tier", "label": "Tier", "type": "enum"},
        headers=world.manager_a.headers,
    )
    assert fields_of(problem(response, 422)) == ["options"]


async def test_default_of_the_wrong_type_is_refused(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await client.post(
        brand_url(world, "/profile-attributes"),
        json={"key": "points", "label": "Points", "type": "number", "default": "ten"},
        headers=world.manager_a.headers,
    )
    assert fields_of(problem(response, 422)) == ["default"]


async def test_second_attribute_with_the_same_key_answers_409(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await define_attribute(client, world, key="note", type="text")
    response = await client.post(
        brand_url(world, "/profile-attributes"),
        json={"key": "note", "label": "Again", "type": "text"},
        headers=world.manager_a.headers,
    )
    assert fields_of(problem(response, 409)) == ["key"]
