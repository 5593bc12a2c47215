"""REST: brands (create and provisioning, list, read, update, delete) and brand settings."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import select

from backend.tenancy.models import Brand, BrandSettings
from tests.factories import Person, World, make_brand, make_world, problem, run_jobs, session_of

UNKNOWN_ID = "00000000-0000-7000-8000-000000000000"


async def listed_ids(client: httpx.AsyncClient, path: str, person: Person) -> list[str]:
    response = await client.get(path, headers=person.headers)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def agency_brand_names(
    client: httpx.AsyncClient, agency_id: UUID, owner: Person
) -> list[str]:
    response = await client.get(f"/v1/agencies/{agency_id}/brands", headers=owner.headers)
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


async def brand_of(client: httpx.AsyncClient, brand_id: UUID, person: Person) -> dict[str, Any]:
    response = await client.get(f"/v1/brands/{brand_id}", headers=person.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def stored_settings(app: Litestar, brand_id: UUID) -> BrandSettings | None:
    async with session_of(app, brand_id) as session:
        return await session.scalar(select(BrandSettings))


async def stored_brand(app: Litestar, brand_id: UUID) -> Brand | None:
    async with session_of(app) as session:
        return await session.get(Brand, brand_id)


async def settings_of(client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    response = await client.get(
        f"/v1/brands/{world.brand_a.id}/settings", headers=world.owner_a.headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# Read ------------------------------------------------------------------------------------------


async def test_world_owner_reads_own_brand_and_not_other(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await client.get(f"/v1/brands/{world.brand_a.id}", headers=world.owner_a.headers)
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Brand A"
    problem(await client.get(f"/v1/brands/{world.brand_b.id}", headers=world.owner_a.headers), 404)


async def test_viewer_reads_granted_brand(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    body = await brand_of(client, world.brand_a.id, world.viewer_a)
    assert body["id"] == str(world.brand_a.id)
    assert body["agencyId"] == str(world.agency_a.id)
    assert body["status"] == "active"
    assert body["timeZone"] == "Europe/Brussels"


async def test_agency_member_without_grant_gets_404_on_brand(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    problem(await client.get(f"/v1/brands/{world.brand_a.id}", headers=world.member_a.headers), 404)


async def test_unknown_brand_answers_404(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    problem(await client.get(f"/v1/brands/{UNKNOWN_ID}", headers=world.owner_a.headers), 404)


async def test_brand_read_without_token_answers_401(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await client.get(f"/v1/brands/{world.brand_a.id}")
    problem(response, 401)
    assert "www-authenticate" in response.headers


# Create ----------------------------------------------------------------------------------------


async def test_owner_creates_brand_in_provisioning(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await client.post(
        f"/v1/agencies/{world.agency_a.id}/brands",
        json={"name": "New", "timeZone": "America/Montreal", "locale": "fr-BE"},
        headers=world.owner_a.headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "provisioning"
    assert body["provisionedAt"] is None
    assert body["agencyId"] == str(world.agency_a.id)
    assert (body["name"], body["timeZone"], body["locale"]) == ("New", "America/Montreal", "fr-BE")
    assert "New" in await agency_brand_names(client, world.agency_a.id, world.owner_a)


async def test_created_brand_defaults_to_utc_and_english(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await client.post(
        f"/v1/agencies/{world.agency_a.id}/brands",
        json={"name": "New"},
        headers=world.owner_a.headers,
    )
    assert response.status_code == 201, response.text
    assert (response.json()["timeZone"], response.json()["locale"]) == ("UTC", "en")


async def test_admin_creates_brand(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    response = await client.post(
        f"/v1/agencies/{world.agency_a.id}/brands",
        json={"name": "By admin"},
        headers=world.admin_a.headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "provisioning"
    assert await agency_brand_names(client, world.agency_a.id, world.owner_a) == [
        "Brand A",
        "By admin",
    ]


@pytest.mark.parametrize("who", ["member_a", "manager_a", "viewer_a"])
async def test_non_admin_cannot_create_brand(
    app: Litestar, client: httpx.AsyncClient, who: str
) -> None:
    world = await make_world(app)
    person: Person = getattr(world, who)
    problem(
        await client.post(
            f"/v1/agencies/{world.agency_a.id}/brands",
            json={"name": "Sneaky"},
            headers=person.headers,
        ),
        403,
    )
    assert await agency_brand_names(client, world.agency_a.id, world.owner_a) == ["Brand A"]


async def test_owner_cannot_create_brand_in_other_agency(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    problem(
        await client.post(
            f"/v1/agencies/{world.agency_b.id}/brands",
            json={"name": "Sneaky"},
            headers=world.owner_a.headers,
        ),
        404,
    )
    assert await agency_brand_names(client, world.agency_b.id, world.owner_b) == ["Brand B"]


async def test_create_brand_with_unknown_time_zone_is_refused_and_creates_nothing(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    body = problem(
        await client.post(
            f"/v1/agencies/{world.agency_a.id}/brands",
            json={"name": "Lost", "timeZone": "Mars/Olympus_Mons"},
            headers=world.owner_a.headers,
        ),
        422,
    )
    assert body["errors"] == [{"field": "timeZone"}]
    assert await agency_brand_names(client, world.agency_a.id, world.owner_a) == ["Brand A"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "x" * 201},
        {"name": 12},
        {"name": "Ok", "locale": "french"},
        {"name": "Ok", "timeZone": "../../etc/passwd"},
        {"name": "Ok", "status": "active"},
    ],
    ids=[
        "missing-name",
        "empty-name",
        "long-name",
        "wrong-type",
        "bad-locale",
        "path-time-zone",
        "unknown-field",
    ],
)
async def test_create_brand_with_invalid_body_is_refused_and_creates_nothing(
    app: Litestar, client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    world = await make_world(app)
    problem(
        await client.post(
            f"/v1/agencies/{world.agency_a.id}/brands", json=body, headers=world.owner_a.headers
        ),
        422,
    )
    assert await agency_brand_names(client, world.agency_a.id, world.owner_a) == ["Brand A"]


@pytest.mark.worker
async def test_created_brand_is_provisioned_by_job(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await client.post(
        f"/v1/agencies/{world.agency_a.id}/brands",
        json={"name": "New"},
        headers=world.owner_a.headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "provisioning"
    await run_jobs(app)
    response = await client.get(
        f"/v1/brands/{response.json()['id']}", headers=world.owner_a.headers
    )
    assert response.json()["status"] == "active"
    assert response.json()["provisionedAt"] is not None


@pytest.mark.worker
async def test_provisioning_job_creates_default_settings(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    created = await client.post(
        f"/v1/agencies/{world.agency_a.id}/brands",
        json={"name": "Fresh"},
        headers=world.admin_a.headers,
    )
    brand_id = created.json()["id"]
    await run_jobs(app)
    response = await client.get(f"/v1/brands/{brand_id}/settings", headers=world.admin_a.headers)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "brandId": brand_id,
        "senderName": "Fresh",
        "quietHoursStart": "21:00",
        "quietHoursEnd": "08:00",
        "maxMessagesPerWeek": 3,
        "defaultChannel": "email",
        "updatedAt": response.json()["updatedAt"],
    }


async def test_settings_before_provisioning_answer_409(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    created = await client.post(
        f"/v1/agencies/{world.agency_a.id}/brands",
        json={"name": "Pending"},
        headers=world.owner_a.headers,
    )
    brand_id = created.json()["id"]
    problem(await client.get(f"/v1/brands/{brand_id}/settings", headers=world.owner_a.headers), 409)


async def test_settings_update_before_provisioning_answers_409(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = await make_brand(app, world.agency_a.id, "Pending", provision=False)
    problem(
        await client.patch(
            f"/v1/brands/{brand.id}/settings",
            json={"senderName": "Early"},
            headers=world.owner_a.headers,
        ),
        409,
    )
    assert await stored_settings(app, brand.id) is None


# List ------------------------------------------------------------------------------------------


async def test_list_brands_shows_what_each_person_reaches(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand_a, brand_b = str(world.brand_a.id), str(world.brand_b.id)
    assert await listed_ids(client, "/v1/brands", world.owner_a) == [brand_a]
    assert await listed_ids(client, "/v1/brands", world.admin_a) == [brand_a]
    assert await listed_ids(client, "/v1/brands", world.manager_a) == [brand_a]
    assert await listed_ids(client, "/v1/brands", world.viewer_a) == [brand_a]
    assert await listed_ids(client, "/v1/brands", world.member_a) == []
    assert await listed_ids(client, "/v1/brands", world.owner_b) == [brand_b]


async def test_viewer_lists_only_the_granted_brand(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    other = await make_brand(app, world.agency_a.id, "Brand A2")
    assert await listed_ids(client, "/v1/brands", world.viewer_a) == [str(world.brand_a.id)]
    assert await listed_ids(client, "/v1/brands", world.admin_a) == [
        str(world.brand_a.id),
        str(other.id),
    ]


async def test_list_brands_spans_the_callers_agencies(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    created = await client.post("/v1/agencies", json={"name": "C"}, headers=world.owner_a.headers)
    brand_c = await make_brand(app, UUID(created.json()["id"]), "Brand C")
    assert await listed_ids(client, "/v1/brands", world.owner_a) == [
        str(world.brand_a.id),
        str(brand_c.id),
    ]
    assert await listed_ids(client, f"/v1/agencies/{world.agency_a.id}/brands", world.owner_a) == [
        str(world.brand_a.id)
    ]


async def test_list_brands_pages_walk_every_brand_once(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    extra = [await make_brand(app, world.agency_a.id, f"Extra {i}") for i in range(3)]
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params = {"limit": 1} if cursor is None else {"limit": 1, "cursor": cursor}
        response = await client.get("/v1/brands", params=params, headers=world.owner_a.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) == 1
        seen.extend(item["id"] for item in page["items"])
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == [str(world.brand_a.id), *(str(b.id) for b in extra)]


async def test_agency_brands_list_shows_reachable_brands_of_that_agency(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    other = await make_brand(app, world.agency_a.id, "Brand A2")
    path = f"/v1/agencies/{world.agency_a.id}/brands"
    assert await listed_ids(client, path, world.owner_a) == [str(world.brand_a.id), str(other.id)]
    assert await listed_ids(client, path, world.viewer_a) == [str(world.brand_a.id)]
    assert await listed_ids(client, path, world.member_a) == []


async def test_agency_brands_list_of_other_agency_answers_404(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    problem(
        await client.get(f"/v1/agencies/{world.agency_b.id}/brands", headers=world.owner_a.headers),
        404,
    )


async def test_list_brands_with_bad_cursor_answers_422(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    problem(
        await client.get("/v1/brands?cursor=%%%", headers=world.owner_a.headers),
        422,
    )


# Update ----------------------------------------------------------------------------------------


async def test_admin_renames_brand(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    response = await client.patch(
        f"/v1/brands/{world.brand_a.id}",
        json={"name": "Brand A+", "timeZone": "Asia/Tokyo", "locale": "ja"},
        headers=world.admin_a.headers,
    )
    assert response.status_code == 200, response.text
    body = await brand_of(client, world.brand_a.id, world.viewer_a)
    assert (body["name"], body["timeZone"], body["locale"]) == ("Brand A+", "Asia/Tokyo", "ja")


async def test_partial_brand_update_keeps_other_fields(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await client.patch(
        f"/v1/brands/{world.brand_a.id}", json={"locale": "nl-BE"}, headers=world.owner_a.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["name"], body["timeZone"], body["locale"]) == (
        "Brand A",
        "Europe/Brussels",
        "nl-BE",
    )


async def test_owner_cannot_update_other_agencys_brand(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    problem(
        await client.patch(
            f"/v1/brands/{world.brand_b.id}", json={"name": "Mine"}, headers=world.owner_a.headers
        ),
        404,
    )
    assert (await brand_of(client, world.brand_b.id, world.owner_b))["name"] == "Brand B"


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": 3},
        {"timeZone": "Nowhere/Town"},
        {"name": "Ok", "timeZone": "Nowhere/Town"},
        {"locale": "EN_us"},
        {"agencyId": UNKNOWN_ID},
        {"status": "provisioning"},
    ],
    ids=[
        "empty-name",
        "wrong-type",
        "unknown-time-zone",
        "name-with-unknown-time-zone",
        "bad-locale",
        "move-agency",
        "status",
    ],
)
async def test_update_brand_with_invalid_body_is_refused_and_brand_unchanged(
    app: Litestar, client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    world = await make_world(app)
    problem(
        await client.patch(
            f"/v1/brands/{world.brand_a.id}", json=body, headers=world.owner_a.headers
        ),
        422,
    )
    stored = await brand_of(client, world.brand_a.id, world.owner_a)
    assert (stored["name"], stored["timeZone"], stored["locale"], stored["status"]) == (
        "Brand A",
        "Europe/Brussels",
        "en",
        "active",
    )
    assert stored["agencyId"] == str(world.agency_a.id)


# Delete ----------------------------------------------------------------------------------------


async def test_admin_deletes_brand_then_it_answers_404(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await client.delete(f"/v1/brands/{world.brand_a.id}", headers=world.admin_a.headers)
    assert response.status_code == 204, response.text
    assert response.content == b""
    problem(await client.get(f"/v1/brands/{world.brand_a.id}", headers=world.admin_a.headers), 404)
    problem(await client.get(f"/v1/brands/{world.brand_a.id}", headers=world.viewer_a.headers), 404)
    assert await listed_ids(client, "/v1/brands", world.owner_a) == []


async def test_deleted_brand_takes_its_settings_along(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    assert await stored_settings(app, world.brand_a.id) is not None
    response = await client.delete(f"/v1/brands/{world.brand_a.id}", headers=world.admin_a.headers)
    assert response.status_code == 204, response.text
    assert await stored_settings(app, world.brand_a.id) is None
    assert await stored_brand(app, world.brand_a.id) is None
    problem(
        await client.get(f"/v1/brands/{world.brand_a.id}/settings", headers=world.admin_a.headers),
        404,
    )


async def test_deleting_a_brand_leaves_other_brands_alone(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await client.delete(f"/v1/brands/{world.brand_a.id}", headers=world.owner_a.headers)
    assert response.status_code == 204, response.text
    assert await stored_settings(app, world.brand_b.id) is not None
    assert (await brand_of(client, world.brand_b.id, world.owner_b))["name"] == "Brand B"


async def test_owner_cannot_delete_other_agencys_brand(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    problem(
        await client.delete(f"/v1/brands/{world.brand_b.id}", headers=world.owner_a.headers), 404
    )
    assert await stored_brand(app, world.brand_b.id) is not None
    assert await stored_settings(app, world.brand_b.id) is not None


# Settings --------------------------------------------------------------------------------------


async def test_viewer_reads_brand_settings(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    response = await client.get(
        f"/v1/brands/{world.brand_a.id}/settings", headers=world.viewer_a.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["brandId"] == str(world.brand_a.id)
    assert body["senderName"] == "Brand A"


async def test_settings_of_other_agencys_brand_answer_404(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    problem(
        await client.get(f"/v1/brands/{world.brand_b.id}/settings", headers=world.owner_a.headers),
        404,
    )


async def test_member_without_grant_gets_404_on_settings(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    problem(
        await client.get(f"/v1/brands/{world.brand_a.id}/settings", headers=world.member_a.headers),
        404,
    )


async def test_manager_updates_brand_settings(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    changes = {
        "senderName": "Team A",
        "quietHoursStart": "22:30",
        "quietHoursEnd": "07:00",
        "maxMessagesPerWeek": 5,
        "defaultChannel": "sms",
    }
    response = await client.patch(
        f"/v1/brands/{world.brand_a.id}/settings", json=changes, headers=world.manager_a.headers
    )
    assert response.status_code == 200, response.text
    stored = await settings_of(client, world)
    assert {k: stored[k] for k in changes} == changes


async def test_admin_updates_brand_settings(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    response = await client.patch(
        f"/v1/brands/{world.brand_a.id}/settings",
        json={"maxMessagesPerWeek": 0},
        headers=world.admin_a.headers,
    )
    assert response.status_code == 200, response.text
    stored = await settings_of(client, world)
    assert stored["maxMessagesPerWeek"] == 0
    assert stored["senderName"] == "Brand A"


async def test_updating_settings_of_other_agencys_brand_answers_404(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    problem(
        await client.patch(
            f"/v1/brands/{world.brand_b.id}/settings",
            json={"senderName": "Hijack"},
            headers=world.owner_a.headers,
        ),
        404,
    )
    stored = await stored_settings(app, world.brand_b.id)
    assert stored is not None
    assert stored.sender_name == "Brand B"


async def test_settings_update_touches_only_its_brand(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await client.patch(
        f"/v1/brands/{world.brand_a.id}/settings",
        json={"senderName": "Only A"},
        headers=world.owner_a.headers,
    )
    assert response.status_code == 200, response.text
    stored_b = await stored_settings(app, world.brand_b.id)
    assert stored_b is not None
    assert stored_b.sender_name == "Brand B"


@pytest.mark.parametrize(
    "body",
    [
        {"quietHoursStart": "25:00"},
        {"quietHoursEnd": "7:00"},
        {"maxMessagesPerWeek": 101},
        {"maxMessagesPerWeek": -1},
        {"defaultChannel": "fax"},
        {"senderName": ""},
        {"senderName": "Ok", "tenantId": UNKNOWN_ID},
    ],
    ids=[
        "hour-25",
        "unpadded-hour",
        "cap-too-high",
        "negative-cap",
        "unknown-channel",
        "empty-sender",
        "unknown-field",
    ],
)
async def test_invalid_settings_update_is_refused_and_settings_unchanged(
    app: Litestar, client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    world = await make_world(app)
    before = await settings_of(client, world)
    problem(
        await client.patch(
            f"/v1/brands/{world.brand_a.id}/settings", json=body, headers=world.manager_a.headers
        ),
        422,
    )
    assert await settings_of(client, world) == before
