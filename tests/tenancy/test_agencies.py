"""REST: agencies (create, list with keyset pages, read, rename) and authentication."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from litestar import Litestar

from tests.factories import make_world, problem


async def agency_name(client: httpx.AsyncClient, agency_id: object, headers: dict[str, str]) -> str:
    response = await client.get(f"/v1/agencies/{agency_id}", headers=headers)
    assert response.status_code == 200, response.text
    name: str = response.json()["name"]
    return name


async def all_agencies(
    client: httpx.AsyncClient, headers: dict[str, str], limit: int
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": limit}
    for _ in range(50):
        response = await client.get("/v1/agencies", params=params, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= limit
        items.extend(page["items"])
        if page["nextCursor"] is None:
            return items
        params = {"limit": limit, "cursor": page["nextCursor"]}
    raise AssertionError("pagination never ended")


# Create ----------------------------------------------------------------------------------------


async def test_create_agency_answers_201_with_the_agency(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await client.post(
        "/v1/agencies", json={"name": "Agency C"}, headers=world.member_a.headers
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == "Agency C"
    assert set(body) == {"id", "name", "createdAt", "updatedAt"}


async def test_created_agency_makes_the_caller_its_owner(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    created = await client.post(
        "/v1/agencies", json={"name": "Agency C"}, headers=world.member_a.headers
    )
    agency_id = created.json()["id"]

    listed = await client.get("/v1/agencies", headers=world.member_a.headers)
    assert agency_id in [a["id"] for a in listed.json()["items"]]
    members = await client.get(f"/v1/agencies/{agency_id}/members", headers=world.member_a.headers)
    assert members.status_code == 200, members.text
    assert [(m["email"], m["role"]) for m in members.json()["items"]] == [
        (world.member_a.email, "owner")
    ]


async def test_created_agency_is_invisible_to_other_people(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    created = await client.post(
        "/v1/agencies", json={"name": "Agency C"}, headers=world.member_a.headers
    )
    agency_id = created.json()["id"]
    problem(await client.get(f"/v1/agencies/{agency_id}", headers=world.owner_a.headers), 404)
    listed = await client.get("/v1/agencies", headers=world.owner_b.headers)
    assert agency_id not in [a["id"] for a in listed.json()["items"]]


@pytest.mark.parametrize(
    "body",
    [{}, {"name": ""}, {"name": "x" * 201}, {"name": 42}, {"name": "C", "owner": "me"}],
    ids=["missing-name", "empty-name", "long-name", "wrong-type", "unknown-field"],
)
async def test_create_agency_with_invalid_body_is_refused_and_creates_nothing(
    app: Litestar, client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    world = await make_world(app)
    problem(await client.post("/v1/agencies", json=body, headers=world.owner_a.headers), 422)
    listed = await client.get("/v1/agencies", headers=world.owner_a.headers)
    assert [a["name"] for a in listed.json()["items"]] == ["Agency A"]


async def test_create_agency_with_malformed_json_answers_400(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await client.post(
        "/v1/agencies",
        content=b'{"name": ',
        headers={**world.owner_a.headers, "Content-Type": "application/json"},
    )
    problem(response, 400)
    listed = await client.get("/v1/agencies", headers=world.owner_a.headers)
    assert len(listed.json()["items"]) == 1


# List ------------------------------------------------------------------------------------------


async def test_list_agencies_shows_only_the_callers_agencies(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    for person, expected in [
        (world.owner_a, [world.agency_a.id]),
        (world.viewer_a, [world.agency_a.id]),
        (world.owner_b, [world.agency_b.id]),
    ]:
        response = await client.get("/v1/agencies", headers=person.headers)
        assert response.status_code == 200, response.text
        assert [a["id"] for a in response.json()["items"]] == [str(i) for i in expected]


async def test_list_agencies_is_empty_for_a_user_without_agency(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await client.delete(
        f"/v1/agencies/{world.agency_a.id}/members/{world.member_a.id}",
        headers=world.owner_a.headers,
    )
    response = await client.get("/v1/agencies", headers=world.member_a.headers)
    assert response.json() == {"items": [], "nextCursor": None}


async def test_list_agencies_pages_walk_every_agency_once(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    created = []
    for name in ("C", "D", "E"):
        response = await client.post(
            "/v1/agencies", json={"name": name}, headers=world.owner_a.headers
        )
        created.append(response.json()["id"])

    walked = await all_agencies(client, world.owner_a.headers, limit=1)

    ids = [a["id"] for a in walked]
    assert len(ids) == len(set(ids)) == 4
    assert set(ids) == {str(world.agency_a.id), *created}
    assert world.agency_b.id not in ids


async def test_list_agencies_pages_keep_creation_order(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    for name in ("C", "D", "E"):
        await client.post("/v1/agencies", json={"name": name}, headers=world.owner_a.headers)
    walked = await all_agencies(client, world.owner_a.headers, limit=2)
    assert [a["name"] for a in walked] == ["Agency A", "C", "D", "E"]


async def test_list_agencies_last_page_has_no_cursor(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await client.post("/v1/agencies", json={"name": "C"}, headers=world.owner_a.headers)
    first = (await client.get("/v1/agencies?limit=1", headers=world.owner_a.headers)).json()
    assert first["nextCursor"] is not None
    second = (
        await client.get(
            "/v1/agencies",
            params={"limit": 1, "cursor": first["nextCursor"]},
            headers=world.owner_a.headers,
        )
    ).json()
    assert [a["name"] for a in second["items"]] == ["C"]
    assert second["nextCursor"] is None


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=abc", "cursor=not-a-cursor"])
async def test_list_agencies_with_bad_paging_is_refused(
    app: Litestar, client: httpx.AsyncClient, query: str
) -> None:
    world = await make_world(app)
    problem(await client.get(f"/v1/agencies?{query}", headers=world.owner_a.headers), 422)


# Read ------------------------------------------------------------------------------------------


async def test_member_reads_own_agency(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    response = await client.get(f"/v1/agencies/{world.agency_a.id}", headers=world.member_a.headers)
    assert response.status_code == 200, response.text
    assert response.json()["id"] == str(world.agency_a.id)
    assert response.json()["name"] == "Agency A"


async def test_other_agency_answers_404(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    body = problem(
        await client.get(f"/v1/agencies/{world.agency_b.id}", headers=world.owner_a.headers), 404
    )
    assert "Agency B" not in str(body)


async def test_unknown_agency_answers_404(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    problem(
        await client.get(
            "/v1/agencies/00000000-0000-7000-8000-000000000000", headers=world.owner_a.headers
        ),
        404,
    )


# Rename ----------------------------------------------------------------------------------------


async def test_admin_renames_agency(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    response = await client.patch(
        f"/v1/agencies/{world.agency_a.id}", json={"name": "Renamed"}, headers=world.admin_a.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Renamed"
    assert await agency_name(client, world.agency_a.id, world.member_a.headers) == "Renamed"


async def test_owner_renames_agency(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    response = await client.patch(
        f"/v1/agencies/{world.agency_a.id}", json={"name": "Renamed"}, headers=world.owner_a.headers
    )
    assert response.status_code == 200, response.text
    assert await agency_name(client, world.agency_a.id, world.owner_a.headers) == "Renamed"


async def test_member_cannot_rename_agency(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    problem(
        await client.patch(
            f"/v1/agencies/{world.agency_a.id}",
            json={"name": "Renamed"},
            headers=world.member_a.headers,
        ),
        403,
    )
    assert await agency_name(client, world.agency_a.id, world.owner_a.headers) == "Agency A"


async def test_brand_manager_cannot_rename_agency(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    problem(
        await client.patch(
            f"/v1/agencies/{world.agency_a.id}",
            json={"name": "Renamed"},
            headers=world.manager_a.headers,
        ),
        403,
    )
    assert await agency_name(client, world.agency_a.id, world.owner_a.headers) == "Agency A"


async def test_owner_cannot_rename_other_agency(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    problem(
        await client.patch(
            f"/v1/agencies/{world.agency_b.id}",
            json={"name": "Taken"},
            headers=world.owner_a.headers,
        ),
        404,
    )
    assert await agency_name(client, world.agency_b.id, world.owner_b.headers) == "Agency B"


@pytest.mark.parametrize(
    "body",
    [{"name": ""}, {"name": None}, {"name": 7}, {"name": "Ok", "plan": "gold"}, {"title": "x"}],
    ids=["empty-name", "null-name", "wrong-type", "extra-field", "unknown-field"],
)
async def test_rename_agency_with_invalid_body_is_refused_and_name_unchanged(
    app: Litestar, client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    world = await make_world(app)
    problem(
        await client.patch(
            f"/v1/agencies/{world.agency_a.id}", json=body, headers=world.owner_a.headers
        ),
        422,
    )
    assert await agency_name(client, world.agency_a.id, world.owner_a.headers) == "Agency A"


async def test_rename_agency_with_empty_body_changes_nothing(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await client.patch(
        f"/v1/agencies/{world.agency_a.id}", json={}, headers=world.owner_a.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Agency A"


# Authentication --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/agencies"),
        ("POST", "/v1/agencies"),
        ("GET", "/v1/agencies/{agency}"),
        ("PATCH", "/v1/agencies/{agency}"),
    ],
)
async def test_unauthenticated_request_answers_401_with_challenge(
    app: Litestar, client: httpx.AsyncClient, method: str, path: str
) -> None:
    world = await make_world(app)
    response = await client.request(
        method, path.format(agency=world.agency_a.id), json={"name": "Nope"}
    )
    problem(response, 401)
    assert response.headers["www-authenticate"].lower().startswith("bearer")
    assert await agency_name(client, world.agency_a.id, world.owner_a.headers) == "Agency A"


@pytest.mark.parametrize(
    "authorization", ["Bearer lvr_at_unknown", "Basic dXNlcjpwYXNz", "Bearer "]
)
async def test_bad_credentials_answer_401_with_challenge(
    app: Litestar, client: httpx.AsyncClient, authorization: str
) -> None:
    await make_world(app)
    response = await client.get("/v1/agencies", headers={"Authorization": authorization})
    problem(response, 401)
    assert response.headers["www-authenticate"].lower().startswith("bearer")
