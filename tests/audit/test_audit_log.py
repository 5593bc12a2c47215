"""Every write is in the agency's audit log: who, what, which brand, when; readable by admins."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
import pytest
from litestar import Litestar

from tests.factories import Person, World, make_world, problem, run_jobs


async def audit(
    client: httpx.AsyncClient, agency_id: UUID, person: Person, **params: str
) -> list[dict[str, Any]]:
    response = await client.get(
        f"/v1/agencies/{agency_id}/audit-events", params=params, headers=person.headers
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def create_brand(client: httpx.AsyncClient, world: World, name: str) -> httpx.Response:
    response = await client.post(
        f"/v1/agencies/{world.agency_a.id}/brands",
        json={"name": name},
        headers=world.owner_a.headers,
    )
    assert response.status_code == 201, response.text
    return response


async def test_a_write_through_the_api_names_actor_object_brand_and_request(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await create_brand(client, world, "Audited")
    brand_id = response.json()["id"]
    events = await audit(client, world.agency_a.id, world.admin_a, objectType="brands")
    [event] = [e for e in events if e["objectId"] == brand_id]
    assert event["action"] == "created"
    assert event["actor"] == f"user:{world.owner_a.id}"
    assert event["agencyId"] == str(world.agency_a.id)
    assert event["brandId"] == brand_id
    assert event["requestId"] == response.headers["x-request-id"]
    assert "name" in event["fields"]


async def test_an_update_lists_the_changed_fields_and_never_their_values(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await client.patch(
        f"/v1/brands/{world.brand_a.id}/settings",
        json={"quietHoursStart": "22:30"},
        headers=world.manager_a.headers,
    )
    assert response.status_code == 200
    events = await audit(
        client, world.agency_a.id, world.owner_a, objectType="brand_settings", action="updated"
    )
    assert [(e["actor"], e["fields"], e["brandId"]) for e in events] == [
        (f"user:{world.manager_a.id}", ["quiet_hours_start"], str(world.brand_a.id))
    ]
    assert "22:30" not in str(events)


@pytest.mark.worker
async def test_background_tasks_are_named_as_the_actor(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand_id = (await create_brand(client, world, "Provisioned")).json()["id"]
    await run_jobs(app)
    events = await audit(client, world.agency_a.id, world.owner_a, brandId=brand_id)
    by_task = [e for e in events if e["actor"] == "task:tenancy.provision_brand"]
    assert [(e["objectType"], e["action"]) for e in by_task] == [("brands", "updated")]
    assert "status" in by_task[0]["fields"]


async def test_deleting_a_brand_keeps_its_deletion_in_the_log(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand_id = (await create_brand(client, world, "Ephemeral")).json()["id"]
    deleted = await client.delete(f"/v1/brands/{brand_id}", headers=world.owner_a.headers)
    assert deleted.status_code == 204
    events = await audit(client, world.agency_a.id, world.owner_a, action="deleted")
    assert [(e["objectType"], e["objectId"]) for e in events] == [("brands", brand_id)]


async def test_an_agency_never_sees_another_agencys_events(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    renamed = await client.patch(
        f"/v1/agencies/{world.agency_b.id}",
        json={"name": "B renamed"},
        headers=world.owner_b.headers,
    )
    assert renamed.status_code == 200
    a_events = await audit(client, world.agency_a.id, world.owner_a)
    b_events = await audit(client, world.agency_b.id, world.owner_b)
    assert all(e["agencyId"] != str(world.agency_b.id) for e in a_events)
    assert all(e["brandId"] != str(world.brand_b.id) for e in a_events)
    assert any(e["objectType"] == "agencies" and e["action"] == "updated" for e in b_events)
    # Asking A's log for B's brand gives nothing either.
    assert (
        await audit(client, world.agency_a.id, world.owner_a, brandId=str(world.brand_b.id)) == []
    )


async def test_only_agency_owners_and_admins_read_the_log(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    path = f"/v1/agencies/{world.agency_a.id}/audit-events"
    problem(await client.get(path, headers=world.manager_a.headers), 403)
    problem(await client.get(path, headers=world.member_a.headers), 403)
    problem(await client.get(path, headers=world.owner_b.headers), 404)
    problem(await client.get(path), 401)


async def test_the_log_is_paginated_without_gaps(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    for n in range(3):
        await create_brand(client, world, f"Paged {n}")
    everything = await audit(client, world.agency_a.id, world.owner_a, limit="200")
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        response = await client.get(
            f"/v1/agencies/{world.agency_a.id}/audit-events",
            params=params,
            headers=world.owner_a.headers,
        )
        body = response.json()
        seen += [e["id"] for e in body["items"]]
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert seen == [e["id"] for e in everything]
    assert len(seen) > 4


@pytest.mark.parametrize(
    "params",
    [
        {"action": "exploded"},
        {"brandId": "not-a-uuid"},
        {"since": "yesterday"},
        {"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
    ],
)
async def test_bad_filters_answer_422(
    app: Litestar, client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    world = await make_world(app)
    response = await client.get(
        f"/v1/agencies/{world.agency_a.id}/audit-events",
        params=params,
        headers=world.owner_a.headers,
    )
    problem(response, 422)


async def test_graphql_mutations_are_audited_too(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    response = await client.post(
        "/graphql",
        json={
            "query": f'mutation {{ updateAgency(agency: "{world.agency_a.id}",'
            ' input: {name: "Via GraphQL"}) { __typename } }'
        },
        headers=world.admin_a.headers,
    )
    assert response.json()["data"]["updateAgency"]["__typename"] == "Agency"
    events = await audit(client, world.agency_a.id, world.owner_a, objectType="agencies")
    assert [(e["action"], e["actor"], e["fields"]) for e in events if e["action"] == "updated"] == [
        ("updated", f"user:{world.admin_a.id}", ["name"])
    ]
