"""Event types: brand-declared names with a JSON Schema enforced on ingestion, and the brand
setting that accepts declared types only."""

from __future__ import annotations

from typing import Any

import httpx
from litestar import Litestar

from backend.core.tenancy import TenantId
from backend.events import service as events_service
from backend.events.schemas import EventIn
from tests.events.helpers import event, events_of, send, send_batch, set_settings
from tests.factories import World, make_world, problem, session_of
from tests.profiles.helpers import brand_url, fields_of

QUIZ_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["score"],
    "properties": {"score": {"type": "integer", "minimum": 0}, "quiz": {"type": "string"}},
}


async def declare(client: httpx.AsyncClient, world: World, **body: Any) -> httpx.Response:
    return await client.post(
        brand_url(world, "/event-types"), json=body, headers=world.manager_a.headers
    )


async def test_event_type_is_declared_read_changed_and_deleted(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    created = await declare(client, world, name="quiz_done", propertiesSchema=QUIZ_SCHEMA)
    assert created.status_code == 201, created.text
    assert created.json()["propertiesSchema"] == QUIZ_SCHEMA
    url = brand_url(world, "/event-types/quiz_done")
    read = await client.get(url, headers=world.viewer_a.headers)
    assert read.json()["id"] == created.json()["id"]
    changed = await client.patch(
        url, json={"description": "A quiz answered"}, headers=world.manager_a.headers
    )
    assert changed.json()["description"] == "A quiz answered"
    listed = await client.get(brand_url(world, "/event-types"), headers=world.viewer_a.headers)
    assert [t["name"] for t in listed.json()["items"]] == ["quiz_done"]
    deleted = await client.delete(url, headers=world.manager_a.headers)
    assert deleted.status_code == 204
    problem(await client.get(url, headers=world.viewer_a.headers), 404)


async def test_declaring_a_name_twice_or_an_invalid_schema_is_refused(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    assert (await declare(client, world, name="quiz_done")).status_code == 201
    assert fields_of(problem(await declare(client, world, name="quiz_done"), 409)) == ["name"]
    bad = await declare(client, world, name="other", propertiesSchema={"type": "nonsense"})
    assert fields_of(problem(bad, 422)) == ["propertiesSchema"]
    listed = await client.get(brand_url(world, "/event-types"), headers=world.viewer_a.headers)
    assert [t["name"] for t in listed.json()["items"]] == ["quiz_done"]


async def test_properties_failing_the_schema_are_rejected_with_their_path(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    assert (await declare(client, world, name="quiz_done", propertiesSchema=QUIZ_SCHEMA)).is_success
    body = await send_batch(
        client,
        world,
        [
            event("ok", "quiz_done", email="a@x.com", properties={"score": 3}),
            event("neg", "quiz_done", email="a@x.com", properties={"score": -1}),
            event("none", "quiz_done", email="a@x.com", properties={}),
        ],
    )
    outcomes = [r["outcome"] for r in body["results"]]
    assert outcomes == ["accepted", "rejected", "rejected"]
    assert [e["field"] for e in body["results"][1]["errors"]] == ["properties.score"]
    assert [e["field"] for e in body["results"][2]["errors"]] == ["properties"]
    single = await send(client, world, event("s", "quiz_done", email="a@x.com", properties={}))
    assert fields_of(problem(single, 422)) == ["properties"]
    assert [e["eventId"] for e in await events_of(client, world)] == ["ok"]


async def test_brand_requiring_declared_types_rejects_unknown_names(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    assert (await declare(client, world, name="quiz_done")).is_success
    assert (await send(client, world, event("a", "anything", email="a@x.com"))).status_code == 202
    await set_settings(client, world, requireDeclaredTypes=True)
    settings = await client.get(brand_url(world, "/event-settings"), headers=world.viewer_a.headers)
    assert settings.json() == {
        "createUnknownProfiles": True,
        "requireDeclaredTypes": True,
        "maxFutureSkewSeconds": 600,
    }
    body = await send_batch(
        client,
        world,
        [event("b", "anything", email="a@x.com"), event("c", "quiz_done", email="a@x.com")],
    )
    assert [r["outcome"] for r in body["results"]] == ["rejected", "accepted"]
    assert [e["field"] for e in body["results"][0]["errors"]] == ["name"]
    assert sorted(e["eventId"] for e in await events_of(client, world)) == ["a", "c"]
    # What Levier itself records (a message sent, opened) is never refused for its name.
    async with session_of(app, world.brand_a.id) as session:
        outcomes = await events_service.ingest(
            session,
            TenantId(world.brand_a.id),
            [EventIn(event_id="d", name="email_opened", email="a@x.com")],
            source="messaging",
            platform=True,
        )
        await session.commit()
    assert [o.outcome.value for o in outcomes] == ["accepted"]


async def test_event_types_and_settings_of_another_brand_are_out_of_reach(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    assert (await declare(client, world, name="quiz_done")).is_success
    b_types = f"/v1/brands/{world.brand_b.id}/event-types"
    listed = await client.get(b_types, headers=world.owner_b.headers)
    assert listed.json()["items"] == []
    problem(await client.get(f"{b_types}/quiz_done", headers=world.owner_b.headers), 404)
    problem(await client.get(brand_url(world, "/event-types"), headers=world.owner_b.headers), 404)
    problem(
        await client.patch(
            brand_url(world, "/event-settings"),
            json={"requireDeclaredTypes": True},
            headers=world.owner_b.headers,
        ),
        404,
    )
    viewer = await client.post(
        brand_url(world, "/event-types"), json={"name": "x"}, headers=world.viewer_a.headers
    )
    problem(viewer, 403)
