"""Trigger definitions over REST: CRUD, validation naming the field, scopes and brand isolation
(GraphQL: `test_graphql`)."""

from __future__ import annotations

from typing import Any

import httpx
from litestar import Litestar

from backend.profiles.models import AttributeType
from tests.factories import World, make_world, problem
from tests.triggers.helpers import define_attribute


def triggers_url(world: World, path: str = "", brand: Any = None) -> str:
    return f"/v1/brands/{brand or world.brand_a.id}/triggers{path}"


BIRTHDAY = {
    "key": "birthday",
    "label": "Birthday",
    "kind": "date_attribute",
    "dateField": "birth_date",
    "yearly": True,
    "localTime": "08:30:00",
}


async def _create(client: httpx.AsyncClient, world: World, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(triggers_url(world), json=body, headers=world.manager_a.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_trigger_definitions_are_created_read_changed_and_deleted(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    created = await _create(client, world, BIRTHDAY)
    assert created["kind"] == "date_attribute"
    assert (created["dateField"], created["yearly"], created["localTime"]) == (
        "birth_date",
        True,
        "08:30:00",
    )
    assert created["offsetDays"] == 0
    cart = await _create(
        client,
        world,
        {"key": "cart_left", "label": "Cart", "kind": "abandoned_cart", "delayMinutes": 60},
    )
    read = await client.get(
        triggers_url(world, f"/{created['id']}"), headers=world.viewer_a.headers
    )
    assert read.json() == created

    changed = await client.patch(
        triggers_url(world, f"/{created['id']}"),
        json={"offsetDays": -7, "label": "A week before"},
        headers=world.manager_a.headers,
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["offsetDays"], changed.json()["label"]) == (-7, "A week before")
    assert changed.json()["yearly"] is True  # settings not given are kept

    listed = await client.get(triggers_url(world, "?limit=1"), headers=world.viewer_a.headers)
    assert [t["key"] for t in listed.json()["items"]] == ["birthday"]
    rest = await client.get(
        triggers_url(world, f"?cursor={listed.json()['nextCursor']}"),
        headers=world.viewer_a.headers,
    )
    assert [t["key"] for t in rest.json()["items"]] == ["cart_left"]
    assert rest.json()["nextCursor"] is None

    gone = await client.delete(
        triggers_url(world, f"/{cart['id']}"), headers=world.manager_a.headers
    )
    assert gone.status_code == 204
    problem(
        await client.get(triggers_url(world, f"/{cart['id']}"), headers=world.viewer_a.headers), 404
    )


async def test_bad_trigger_settings_answer_422_naming_the_field(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await define_attribute(app, world.brand_a.id, "tier", AttributeType.TEXT)
    await define_attribute(app, world.brand_a.id, "signed_at", AttributeType.DATETIME)
    cases: list[tuple[dict[str, Any], str]] = [
        ({**BIRTHDAY, "dateField": "unknown_field"}, "dateField"),
        ({**BIRTHDAY, "dateField": "tier"}, "dateField"),
        ({**BIRTHDAY, "offsetDays": 4000}, "offsetDays"),
        ({**BIRTHDAY, "offsetDays": -4000}, "offsetDays"),
        ({**BIRTHDAY, "dateField": "signed_at"}, "yearly"),  # a datetime cannot recur yearly
        ({**BIRTHDAY, "delayMinutes": 5}, "delayMinutes"),  # not a date trigger's setting
        (
            {"key": "idle", "label": "Idle", "kind": "inactivity", "inactivityDays": 0},
            "inactivityDays",
        ),
        ({"key": "cart", "label": "Cart", "kind": "abandoned_cart"}, "delayMinutes"),
        ({"key": "ev", "label": "Event", "kind": "event", "eventName": ""}, "eventName"),
    ]
    for body, field in cases:
        response = await client.post(
            triggers_url(world), json=body, headers=world.manager_a.headers
        )
        errors = problem(response, 422)["errors"]
        assert field in [e["field"] for e in errors], (body, errors)
    # Malformed bodies too, each naming the field.
    for body, field in [
        ({**BIRTHDAY, "kind": "psychic"}, "kind"),
        ({**BIRTHDAY, "key": "Not A Key"}, "key"),
        ({**BIRTHDAY, "localTime": "25:00:00"}, "localTime"),
        ({**BIRTHDAY, "colour": "blue"}, "colour"),
    ]:
        response = await client.post(
            triggers_url(world), json=body, headers=world.manager_a.headers
        )
        errors = problem(response, 422 if response.status_code == 422 else 400)["errors"]
        assert field in str(errors), (body, errors)
    bad_patch = await client.patch(
        triggers_url(world, f"/{(await _create(client, world, BIRTHDAY))['id']}"),
        json={"offsetDays": 9999},
        headers=world.manager_a.headers,
    )
    assert [e["field"] for e in problem(bad_patch, 422)["errors"]] == ["offsetDays"]
    listed = await client.get(triggers_url(world), headers=world.viewer_a.headers)
    assert [t["offsetDays"] for t in listed.json()["items"]] == [0]  # nothing half-stored


async def test_a_trigger_key_is_unique_in_the_brand(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await _create(client, world, BIRTHDAY)
    again = await client.post(triggers_url(world), json=BIRTHDAY, headers=world.manager_a.headers)
    assert [e["field"] for e in problem(again, 409)["errors"]] == ["key"]
    # Another brand may use the same key.
    other = await client.post(
        triggers_url(world, brand=world.brand_b.id), json=BIRTHDAY, headers=world.owner_b.headers
    )
    assert other.status_code == 201, other.text


async def test_triggers_of_another_brand_answer_404(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    mine = await _create(client, world, BIRTHDAY)
    foreign = triggers_url(world, f"/{mine['id']}", brand=world.brand_b.id)
    b = world.owner_b.headers
    problem(await client.get(foreign, headers=b), 404)
    problem(await client.patch(foreign, json={"label": "Hijacked"}, headers=b), 404)
    problem(await client.delete(foreign, headers=b), 404)
    listed = await client.get(triggers_url(world, brand=world.brand_b.id), headers=b)
    assert listed.json()["items"] == []
    # Brand A's URLs are out of brand B's owner's reach altogether.
    problem(await client.get(triggers_url(world, f"/{mine['id']}"), headers=b), 404)
    problem(await client.get(triggers_url(world), headers=b), 404)
    unchanged = await client.get(
        triggers_url(world, f"/{mine['id']}"), headers=world.viewer_a.headers
    )
    assert unchanged.json()["label"] == "Birthday"
