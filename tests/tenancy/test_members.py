"""REST: agency members (list, add, change role, remove) and brand grants."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import httpx
import pytest
from litestar import Litestar

from backend.tenancy import repository
from backend.tenancy import service as tenancy_service
from backend.tenancy.models import AgencyRole
from tests.factories import (
    Person,
    World,
    make_agency,
    make_brand,
    make_person,
    make_world,
    problem,
    session_of,
)

UNKNOWN_ID = "00000000-0000-7000-8000-000000000000"


async def member_roles(client: httpx.AsyncClient, world: World) -> dict[str, str]:
    """email -> agency role of every member of agency A, as its owner sees them."""
    response = await client.get(
        f"/v1/agencies/{world.agency_a.id}/members", headers=world.owner_a.headers
    )
    assert response.status_code == 200, response.text
    return {m["email"]: m["role"] for m in response.json()["items"]}


async def grant_roles(client: httpx.AsyncClient, brand_id: UUID, admin: Person) -> dict[str, str]:
    """email -> brand role of every grant on the brand."""
    response = await client.get(f"/v1/brands/{brand_id}/members", headers=admin.headers)
    assert response.status_code == 200, response.text
    return {g["email"]: g["role"] for g in response.json()["items"]}


def members_path(world: World, user_id: UUID | str | None = None) -> str:
    base = f"/v1/agencies/{world.agency_a.id}/members"
    return base if user_id is None else f"{base}/{user_id}"


def grants_path(brand_id: UUID, user_id: UUID | str | None = None) -> str:
    base = f"/v1/brands/{brand_id}/members"
    return base if user_id is None else f"{base}/{user_id}"


async def status_of_brand(client: httpx.AsyncClient, brand_id: UUID, person: Person) -> int:
    return (await client.get(f"/v1/brands/{brand_id}", headers=person.headers)).status_code


WORLD_A_ROLES = {
    "owner@agency-a.test": "owner",
    "admin@agency-a.test": "admin",
    "manager@agency-a.test": "member",
    "viewer@agency-a.test": "member",
    "member@agency-a.test": "member",
}


# List members ----------------------------------------------------------------------------------


async def test_admin_lists_agency_members(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    response = await client.get(members_path(world), headers=world.admin_a.headers)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert {m["email"]: m["role"] for m in items} == WORLD_A_ROLES
    owner = next(m for m in items if m["role"] == "owner")
    assert owner["userId"] == str(world.owner_a.id)
    assert set(owner) == {"id", "userId", "email", "role", "createdAt"}


@pytest.mark.parametrize("who", ["member_a", "manager_a", "viewer_a"])
async def test_non_admin_cannot_list_agency_members(
    app: Litestar, client: httpx.AsyncClient, who: str
) -> None:
    world = await make_world(app)
    person: Person = getattr(world, who)
    problem(await client.get(members_path(world), headers=person.headers), 403)


async def test_members_of_other_agency_answer_404(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    problem(
        await client.get(
            f"/v1/agencies/{world.agency_a.id}/members", headers=world.owner_b.headers
        ),
        404,
    )


async def test_member_list_pages_walk_every_member_once(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    emails: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    for _ in range(10):
        response = await client.get(
            members_path(world), params=params, headers=world.owner_a.headers
        )
        assert response.status_code == 200, response.text
        page = response.json()
        emails.extend(m["email"] for m in page["items"])
        if page["nextCursor"] is None:
            break
        params = {"limit": 2, "cursor": page["nextCursor"]}
    assert sorted(emails) == sorted(WORLD_A_ROLES)


# Add members -----------------------------------------------------------------------------------


async def test_admin_adds_existing_user_as_admin(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    response = await client.post(
        members_path(world),
        json={"email": world.owner_b.email, "role": "admin"},
        headers=world.admin_a.headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["userId"], body["email"], body["role"]) == (
        str(world.owner_b.id),
        world.owner_b.email,
        "admin",
    )
    assert (await member_roles(client, world))[world.owner_b.email] == "admin"


async def test_added_member_reaches_the_agency_with_the_same_token(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await client.post(
        members_path(world),
        json={"email": world.owner_b.email, "role": "admin"},
        headers=world.owner_a.headers,
    )
    listed = await client.get("/v1/agencies", headers=world.owner_b.headers)
    assert {a["name"] for a in listed.json()["items"]} == {"Agency A", "Agency B"}
    assert await status_of_brand(client, world.brand_a.id, world.owner_b) == 200


async def test_add_member_matches_email_case_insensitively(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await client.post(
        members_path(world),
        json={"email": "  Owner@Agency-B.TEST ", "role": "member"},
        headers=world.admin_a.headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["userId"] == str(world.owner_b.id)


async def test_admin_cannot_add_an_owner(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    problem(
        await client.post(
            members_path(world),
            json={"email": world.owner_b.email, "role": "owner"},
            headers=world.admin_a.headers,
        ),
        403,
    )
    assert world.owner_b.email not in await member_roles(client, world)


async def test_owner_adds_an_owner(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    response = await client.post(
        members_path(world),
        json={"email": world.owner_b.email, "role": "owner"},
        headers=world.owner_a.headers,
    )
    assert response.status_code == 201, response.text
    assert (await member_roles(client, world))[world.owner_b.email] == "owner"


@pytest.mark.parametrize("who", ["member_a", "manager_a"])
async def test_non_admin_cannot_add_members(
    app: Litestar, client: httpx.AsyncClient, who: str
) -> None:
    world = await make_world(app)
    person: Person = getattr(world, who)
    problem(
        await client.post(
            members_path(world),
            json={"email": world.owner_b.email, "role": "member"},
            headers=person.headers,
        ),
        403,
    )
    assert world.owner_b.email not in await member_roles(client, world)


async def test_adding_unknown_email_answers_422(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    body = problem(
        await client.post(
            members_path(world),
            json={"email": "nobody@nowhere.test", "role": "member"},
            headers=world.admin_a.headers,
        ),
        422,
    )
    assert body["errors"] == [{"field": "email"}]
    assert await member_roles(client, world) == WORLD_A_ROLES


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "role": "member"},
        {"email": "owner@agency-b.test", "role": "boss"},
        {"email": "owner@agency-b.test"},
        {"role": "member"},
        {"email": 5, "role": "member"},
        {"email": "owner@agency-b.test", "role": "member", "brandIds": []},
    ],
    ids=["malformed-email", "unknown-role", "missing-role", "missing-email", "wrong-type", "extra"],
)
async def test_add_member_with_invalid_body_is_refused(
    app: Litestar, client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    world = await make_world(app)
    problem(await client.post(members_path(world), json=body, headers=world.admin_a.headers), 422)
    assert await member_roles(client, world) == WORLD_A_ROLES


async def test_adding_an_existing_member_answers_409(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    problem(
        await client.post(
            members_path(world),
            json={"email": world.viewer_a.email, "role": "admin"},
            headers=world.owner_a.headers,
        ),
        409,
    )
    assert (await member_roles(client, world))[world.viewer_a.email] == "member"


async def test_adding_member_to_other_agency_answers_404(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    problem(
        await client.post(
            f"/v1/agencies/{world.agency_b.id}/members",
            json={"email": world.member_a.email, "role": "admin"},
            headers=world.owner_a.headers,
        ),
        404,
    )
    listed = await client.get("/v1/agencies", headers=world.member_a.headers)
    assert [a["name"] for a in listed.json()["items"]] == ["Agency A"]


# Change roles ----------------------------------------------------------------------------------


async def test_admin_promotes_member_to_admin(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    response = await client.patch(
        members_path(world, world.member_a.id),
        json={"role": "admin"},
        headers=world.admin_a.headers,
    )
    assert response.status_code == 200, response.text
    assert (response.json()["email"], response.json()["role"]) == (world.member_a.email, "admin")
    assert (await member_roles(client, world))[world.member_a.email] == "admin"


async def test_promoted_member_gains_admin_rights_with_the_same_token(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await client.patch(
        members_path(world, world.member_a.id),
        json={"role": "admin"},
        headers=world.owner_a.headers,
    )
    response = await client.patch(
        f"/v1/agencies/{world.agency_a.id}", json={"name": "Mine"}, headers=world.member_a.headers
    )
    assert response.status_code == 200, response.text
    assert await status_of_brand(client, world.brand_a.id, world.member_a) == 200


async def test_demoted_admin_loses_admin_rights_with_the_same_token(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await client.patch(
        members_path(world, world.admin_a.id),
        json={"role": "member"},
        headers=world.owner_a.headers,
    )
    assert response.status_code == 200, response.text
    problem(await client.get(members_path(world), headers=world.admin_a.headers), 403)
    assert await status_of_brand(client, world.brand_a.id, world.admin_a) == 404


async def test_admin_cannot_promote_to_owner(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    problem(
        await client.patch(
            members_path(world, world.member_a.id),
            json={"role": "owner"},
            headers=world.admin_a.headers,
        ),
        403,
    )
    assert (await member_roles(client, world))[world.member_a.email] == "member"


async def test_admin_cannot_demote_an_owner(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    problem(
        await client.patch(
            members_path(world, world.owner_a.id),
            json={"role": "member"},
            headers=world.admin_a.headers,
        ),
        403,
    )
    assert (await member_roles(client, world))[world.owner_a.email] == "owner"


async def test_member_cannot_change_roles(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    problem(
        await client.patch(
            members_path(world, world.member_a.id),
            json={"role": "admin"},
            headers=world.member_a.headers,
        ),
        403,
    )
    assert (await member_roles(client, world))[world.member_a.email] == "member"


async def test_owner_promotes_member_to_owner(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    response = await client.patch(
        members_path(world, world.member_a.id),
        json={"role": "owner"},
        headers=world.owner_a.headers,
    )
    assert response.status_code == 200, response.text
    assert (await member_roles(client, world))[world.member_a.email] == "owner"


async def test_changing_role_of_non_member_answers_404(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    for user_id in (world.owner_b.id, UNKNOWN_ID):
        problem(
            await client.patch(
                members_path(world, user_id), json={"role": "admin"}, headers=world.owner_a.headers
            ),
            404,
        )
    assert world.owner_b.email not in await member_roles(client, world)


async def test_changing_role_in_other_agency_answers_404(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    problem(
        await client.patch(
            f"/v1/agencies/{world.agency_b.id}/members/{world.owner_b.id}",
            json={"role": "member"},
            headers=world.owner_a.headers,
        ),
        404,
    )


@pytest.mark.parametrize(
    "body", [{"role": "boss"}, {}, {"role": "admin", "email": "x@y.test"}, {"role": None}]
)
async def test_change_role_with_invalid_body_is_refused(
    app: Litestar, client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    world = await make_world(app)
    problem(
        await client.patch(
            members_path(world, world.member_a.id), json=body, headers=world.owner_a.headers
        ),
        422,
    )
    assert await member_roles(client, world) == WORLD_A_ROLES


# The last owner --------------------------------------------------------------------------------


async def test_last_owner_cannot_be_demoted(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    problem(
        await client.patch(
            members_path(world, world.owner_a.id),
            json={"role": "admin"},
            headers=world.owner_a.headers,
        ),
        409,
    )
    assert (await member_roles(client, world))[world.owner_a.email] == "owner"


async def test_last_owner_cannot_be_removed(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    problem(
        await client.delete(members_path(world, world.owner_a.id), headers=world.owner_a.headers),
        409,
    )
    assert (await member_roles(client, world))[world.owner_a.email] == "owner"


async def test_an_owner_can_step_down_when_another_owner_remains(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await client.patch(
        members_path(world, world.admin_a.id), json={"role": "owner"}, headers=world.owner_a.headers
    )
    response = await client.patch(
        members_path(world, world.owner_a.id), json={"role": "admin"}, headers=world.owner_a.headers
    )
    assert response.status_code == 200, response.text
    roles = await member_roles(client, world)
    assert (roles[world.owner_a.email], roles[world.admin_a.email]) == ("admin", "owner")


async def test_the_remaining_owner_cannot_then_be_removed(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await client.patch(
        members_path(world, world.admin_a.id), json={"role": "owner"}, headers=world.owner_a.headers
    )
    response = await client.delete(
        members_path(world, world.owner_a.id), headers=world.admin_a.headers
    )
    assert response.status_code == 204, response.text
    problem(
        await client.delete(members_path(world, world.admin_a.id), headers=world.admin_a.headers),
        409,
    )
    roles = await client.get(members_path(world), headers=world.admin_a.headers)
    assert [(m["email"], m["role"]) for m in roles.json()["items"] if m["role"] == "owner"] == [
        (world.admin_a.email, "owner")
    ]


async def test_concurrent_demotions_of_two_owners_keep_an_owner(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    for round_ in range(5):
        async with session_of(app) as session:
            agency = await make_agency(session, f"Race {round_}", world.owner_a)
            await tenancy_service.add_member(
                session, None, agency.id, world.admin_a.user, AgencyRole.OWNER
            )
            await session.commit()
        base = f"/v1/agencies/{agency.id}/members"
        # Each owner demotes the other at the same time: one of them must stay owner.
        first, second = await asyncio.gather(
            client.patch(
                f"{base}/{world.admin_a.id}", json={"role": "member"}, headers=world.owner_a.headers
            ),
            client.patch(
                f"{base}/{world.owner_a.id}", json={"role": "member"}, headers=world.admin_a.headers
            ),
        )
        # The loser is refused either way: 409 when both read two owners, 403 when the winner's
        # commit had already made it a member before its own request was authorised.
        statuses = sorted([first.status_code, second.status_code])
        assert statuses in ([200, 403], [200, 409]), (first.text, second.text)
        async with session_of(app) as session:
            owners = await repository.count_owners(session, agency.id)
        assert owners == 1


# Remove members --------------------------------------------------------------------------------


async def test_admin_removes_member(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    response = await client.delete(
        members_path(world, world.member_a.id), headers=world.admin_a.headers
    )
    assert response.status_code == 204, response.text
    assert world.member_a.email not in await member_roles(client, world)
    problem(
        await client.get(f"/v1/agencies/{world.agency_a.id}", headers=world.member_a.headers), 404
    )


async def test_removed_member_loses_brand_roles_in_the_agency(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await client.delete(
        members_path(world, world.viewer_a.id), headers=world.admin_a.headers
    )
    assert response.status_code == 204, response.text
    assert world.viewer_a.email not in await grant_roles(client, world.brand_a.id, world.admin_a)
    problem(await client.get(f"/v1/brands/{world.brand_a.id}", headers=world.viewer_a.headers), 404)


async def test_admin_cannot_remove_an_owner(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    problem(
        await client.delete(members_path(world, world.owner_a.id), headers=world.admin_a.headers),
        403,
    )
    assert world.owner_a.email in await member_roles(client, world)


@pytest.mark.parametrize("who", ["member_a", "manager_a"])
async def test_non_admin_cannot_remove_members(
    app: Litestar, client: httpx.AsyncClient, who: str
) -> None:
    world = await make_world(app)
    person: Person = getattr(world, who)
    problem(
        await client.delete(members_path(world, world.viewer_a.id), headers=person.headers), 403
    )
    assert world.viewer_a.email in await member_roles(client, world)


async def test_removing_a_non_member_answers_404(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    problem(
        await client.delete(members_path(world, world.owner_b.id), headers=world.owner_a.headers),
        404,
    )
    listed = await client.get("/v1/agencies", headers=world.owner_b.headers)
    assert [a["name"] for a in listed.json()["items"]] == ["Agency B"]


async def test_removing_member_of_other_agency_answers_404(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    problem(
        await client.delete(
            f"/v1/agencies/{world.agency_b.id}/members/{world.owner_b.id}",
            headers=world.owner_a.headers,
        ),
        404,
    )
    listed = await client.get("/v1/agencies", headers=world.owner_b.headers)
    assert [a["name"] for a in listed.json()["items"]] == ["Agency B"]


# Brand grants ----------------------------------------------------------------------------------


async def test_admin_lists_brand_grants(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    response = await client.get(grants_path(world.brand_a.id), headers=world.admin_a.headers)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert {g["email"]: g["role"] for g in items} == {
        world.manager_a.email: "manager",
        world.viewer_a.email: "viewer",
    }
    assert {g["userId"] for g in items} == {str(world.manager_a.id), str(world.viewer_a.id)}


async def test_brand_grants_are_listed_per_brand(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    other = await make_brand(app, world.agency_a.id, "Brand A2")
    assert await grant_roles(client, other.id, world.owner_a) == {}
    assert await grant_roles(client, world.brand_b.id, world.owner_b) == {}


async def test_grants_of_other_agencys_brand_answer_404(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    problem(await client.get(grants_path(world.brand_b.id), headers=world.owner_a.headers), 404)
    problem(
        await client.post(
            grants_path(world.brand_b.id),
            json={"email": world.member_a.email, "role": "viewer"},
            headers=world.owner_a.headers,
        ),
        404,
    )
    assert await grant_roles(client, world.brand_b.id, world.owner_b) == {}


async def test_admin_grants_brand_role_to_agency_member(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    assert await status_of_brand(client, world.brand_a.id, world.member_a) == 404
    response = await client.post(
        grants_path(world.brand_a.id),
        json={"email": world.member_a.email, "role": "viewer"},
        headers=world.admin_a.headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["userId"], body["email"], body["role"]) == (
        str(world.member_a.id),
        world.member_a.email,
        "viewer",
    )
    assert await status_of_brand(client, world.brand_a.id, world.member_a) == 200


async def test_granting_again_changes_the_role(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    response = await client.post(
        grants_path(world.brand_a.id),
        json={"email": world.viewer_a.email, "role": "manager"},
        headers=world.owner_a.headers,
    )
    assert response.status_code == 201, response.text
    assert (await grant_roles(client, world.brand_a.id, world.owner_a))[
        world.viewer_a.email
    ] == "manager"
    settings = await client.patch(
        f"/v1/brands/{world.brand_a.id}/settings",
        json={"senderName": "Promoted"},
        headers=world.viewer_a.headers,
    )
    assert settings.status_code == 200, settings.text


async def test_granting_to_user_outside_the_agency_answers_422(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    body = problem(
        await client.post(
            grants_path(world.brand_a.id),
            json={"email": world.owner_b.email, "role": "manager"},
            headers=world.admin_a.headers,
        ),
        422,
    )
    assert body["errors"] == [{"field": "email"}]
    assert world.owner_b.email not in await grant_roles(client, world.brand_a.id, world.admin_a)
    assert await status_of_brand(client, world.brand_a.id, world.owner_b) == 404


async def test_granting_to_a_user_without_any_agency_answers_422(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    async with session_of(app) as session:
        loner = await make_person(session, "loner@nowhere.test")
        await session.commit()
    problem(
        await client.post(
            grants_path(world.brand_a.id),
            json={"email": loner.email, "role": "viewer"},
            headers=world.admin_a.headers,
        ),
        422,
    )
    assert await status_of_brand(client, world.brand_a.id, loner) == 404


@pytest.mark.parametrize(
    "body",
    [
        {"email": "nobody@nowhere.test", "role": "viewer"},
        {"email": "member@agency-a.test", "role": "owner"},
        {"email": "member@agency-a.test"},
        {"email": "member@agency-a.test", "role": "viewer", "brandId": UNKNOWN_ID},
        {"email": ["member@agency-a.test"], "role": "viewer"},
    ],
    ids=["unknown-email", "agency-role", "missing-role", "unknown-field", "wrong-type"],
)
async def test_grant_with_invalid_body_is_refused(
    app: Litestar, client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    world = await make_world(app)
    problem(
        await client.post(grants_path(world.brand_a.id), json=body, headers=world.admin_a.headers),
        422,
    )
    assert await status_of_brand(client, world.brand_a.id, world.member_a) == 404


async def test_admin_revokes_grant_and_the_grantee_loses_the_brand(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    assert await status_of_brand(client, world.brand_a.id, world.viewer_a) == 200
    response = await client.delete(
        grants_path(world.brand_a.id, world.viewer_a.id), headers=world.admin_a.headers
    )
    assert response.status_code == 204, response.text
    # The same token: grants are resolved on every request.
    problem(await client.get(f"/v1/brands/{world.brand_a.id}", headers=world.viewer_a.headers), 404)
    assert world.viewer_a.email not in await grant_roles(client, world.brand_a.id, world.admin_a)
    listed = await client.get("/v1/brands", headers=world.viewer_a.headers)
    assert listed.json()["items"] == []


async def test_revoking_leaves_other_grants_alone(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    await client.delete(
        grants_path(world.brand_a.id, world.viewer_a.id), headers=world.admin_a.headers
    )
    assert await grant_roles(client, world.brand_a.id, world.admin_a) == {
        world.manager_a.email: "manager"
    }
    assert await status_of_brand(client, world.brand_a.id, world.manager_a) == 200


async def test_revoking_a_missing_grant_answers_404(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    for user_id in (world.member_a.id, UNKNOWN_ID):
        problem(
            await client.delete(
                grants_path(world.brand_a.id, user_id), headers=world.admin_a.headers
            ),
            404,
        )


async def test_revoking_on_other_agencys_brand_answers_404(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    async with session_of(app) as session:
        person_b = await make_person(session, "viewer@agency-b.test")
        await session.commit()
    await client.post(
        f"/v1/agencies/{world.agency_b.id}/members",
        json={"email": person_b.email, "role": "member"},
        headers=world.owner_b.headers,
    )
    granted = await client.post(
        grants_path(world.brand_b.id),
        json={"email": person_b.email, "role": "viewer"},
        headers=world.owner_b.headers,
    )
    assert granted.status_code == 201, granted.text
    problem(
        await client.delete(
            grants_path(world.brand_b.id, person_b.id), headers=world.owner_a.headers
        ),
        404,
    )
    assert await status_of_brand(client, world.brand_b.id, person_b) == 200
