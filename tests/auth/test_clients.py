"""OAuth clients managed by agency admins over REST and GraphQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from authlib.integrations.base_client.errors import OAuthError
from litestar import Litestar

from tests.auth.oauth_helpers import SPA_REDIRECT, TOKEN_URL, oauth_client
from tests.factories import World, make_world, problem


def clients_url(world: World) -> str:
    return f"/v1/agencies/{world.agency_a.id}/clients"


async def create(
    client: httpx.AsyncClient, world: World, body: dict[str, Any], who: Any = None
) -> httpx.Response:
    return await client.post(clients_url(world), json=body, headers=(who or world.admin_a).headers)


async def test_admin_creates_a_partner_client_whose_secret_is_shown_once(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await create(client, world, {"name": "ERP", "brandIds": [str(world.brand_a.id)]})
    assert response.status_code == 201
    body = response.json()
    secret = body["clientSecret"]
    assert secret.startswith("lvr_cs_")
    assert body["clientId"] == body["client"]["id"]
    created = body["client"]
    assert created["brandIds"] == [str(world.brand_a.id)]
    assert "profiles:write" in created["scopes"]
    assert "agencies:write" not in created["scopes"]
    assert created["secretPrefix"] == secret[:11]
    listed = await client.get(clients_url(world), headers=world.admin_a.headers)
    assert listed.status_code == 200
    assert [c["id"] for c in listed.json()["items"]] == [created["id"]]
    assert secret not in listed.text
    async with oauth_client(app, client_id=body["clientId"], client_secret=secret) as oauth:
        token = await oauth.fetch_token(TOKEN_URL, grant_type="client_credentials")
    assert token["access_token"]


async def test_a_public_client_has_no_secret_and_needs_a_redirect_uri(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    refused = await create(client, world, {"name": "SPA", "public": True})
    assert problem(refused, 422)["errors"] == [{"field": "redirectUris"}]
    response = await create(
        client, world, {"name": "SPA", "public": True, "redirectUris": [SPA_REDIRECT]}
    )
    assert response.status_code == 201
    assert response.json()["clientSecret"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "X", "scopes": ["profiles:fly"]}, "scopes"),
        ({"name": "X", "scopes": ["agencies:write"]}, "scopes"),
        ({"name": "X", "redirectUris": ["http://app.example.test/cb"]}, "redirectUris"),
        ({"name": "X", "redirectUris": ["https://app.example.test/cb#frag"]}, "redirectUris"),
    ],
    ids=["unknown-scope", "agency-scope-for-a-machine", "plain-http", "fragment"],
)
async def test_bad_client_input_is_422_and_nothing_is_stored(
    app: Litestar, client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    world = await make_world(app)
    assert problem(await create(client, world, body), 422)["errors"] == [{"field": field}]
    listed = await client.get(clients_url(world), headers=world.admin_a.headers)
    assert listed.json()["items"] == []


async def test_a_brand_of_another_agency_cannot_be_granted(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await create(client, world, {"name": "X", "brandIds": [str(world.brand_b.id)]})
    assert problem(response, 422)["errors"] == [{"field": "brandIds"}]


async def test_only_agency_admins_manage_clients_and_other_agencies_see_nothing(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    created = (await create(client, world, {"name": "ERP"})).json()["client"]
    problem(await create(client, world, {"name": "Mine"}, world.manager_a), 403)
    problem(await client.get(clients_url(world), headers=world.viewer_a.headers), 403)
    problem(await client.get(clients_url(world), headers=world.owner_b.headers), 404)
    other = f"/v1/agencies/{world.agency_b.id}/clients/{created['id']}"
    problem(await client.get(other, headers=world.owner_b.headers), 404)
    problem(await client.delete(other, headers=world.owner_b.headers), 404)


async def test_disabling_a_client_stops_its_tokens_and_new_ones(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    body = (
        await create(client, world, {"name": "ERP", "brandIds": [str(world.brand_a.id)]})
    ).json()
    async with oauth_client(
        app, client_id=body["clientId"], client_secret=body["clientSecret"]
    ) as oauth:
        token = await oauth.fetch_token(TOKEN_URL, grant_type="client_credentials")
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        assert (await client.get("/v1/brands", headers=headers)).status_code == 200
        url = f"{clients_url(world)}/{body['clientId']}"
        patched = await client.patch(url, json={"disabled": True}, headers=world.admin_a.headers)
        assert patched.json()["disabled"] is True
        problem(await client.get("/v1/brands", headers=headers), 401)
        with pytest.raises(OAuthError) as refused:
            await oauth.fetch_token(TOKEN_URL, grant_type="client_credentials")
    assert refused.value.error == "invalid_client"


async def test_taking_a_brand_away_binds_existing_tokens_at_once(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    body = (
        await create(client, world, {"name": "ERP", "brandIds": [str(world.brand_a.id)]})
    ).json()
    async with oauth_client(
        app, client_id=body["clientId"], client_secret=body["clientSecret"]
    ) as oauth:
        token = await oauth.fetch_token(TOKEN_URL, grant_type="client_credentials")
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    brand = f"/v1/brands/{world.brand_a.id}"
    assert (await client.get(brand, headers=headers)).status_code == 200
    url = f"{clients_url(world)}/{body['clientId']}"
    await client.patch(url, json={"brandIds": []}, headers=world.admin_a.headers)
    problem(await client.get(brand, headers=headers), 404)


async def test_rotating_the_secret_retires_the_old_one(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    body = (await create(client, world, {"name": "ERP"})).json()
    rotated = await client.post(
        f"{clients_url(world)}/{body['clientId']}/secret", headers=world.admin_a.headers
    )
    assert rotated.status_code == 201
    new_secret = rotated.json()["clientSecret"]
    assert new_secret != body["clientSecret"]
    async with oauth_client(
        app, client_id=body["clientId"], client_secret=body["clientSecret"]
    ) as old:
        with pytest.raises(OAuthError):
            await old.fetch_token(TOKEN_URL, grant_type="client_credentials")
    async with oauth_client(app, client_id=body["clientId"], client_secret=new_secret) as new:
        assert (await new.fetch_token(TOKEN_URL, grant_type="client_credentials"))["access_token"]


async def test_deleting_a_client_revokes_its_tokens(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    body = (await create(client, world, {"name": "ERP"})).json()
    async with oauth_client(
        app, client_id=body["clientId"], client_secret=body["clientSecret"]
    ) as oauth:
        token = await oauth.fetch_token(TOKEN_URL, grant_type="client_credentials")
    deleted = await client.delete(
        f"{clients_url(world)}/{body['clientId']}", headers=world.admin_a.headers
    )
    assert deleted.status_code == 204
    problem(
        await client.get(
            "/v1/brands", headers={"Authorization": f"Bearer {token['access_token']}"}
        ),
        401,
    )


CREATE_CLIENT = """
mutation ($agency: ID!, $input: CreateClientInput!) {
  createClient(agency: $agency, input: $input) {
    __typename
    ... on ClientWithSecret { clientSecret client { id name brandIds scopes } }
    ... on OperationError { problemType httpStatus detail }
  }
}"""


async def test_graphql_creates_and_lists_clients(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    variables = {
        "agency": str(world.agency_a.id),
        "input": {
            "name": "Shop sync",
            "brandIds": [str(world.brand_a.id)],
            "scopes": ["profiles:write", "events:write"],
        },
    }
    response = await client.post(
        "/graphql",
        json={"query": CREATE_CLIENT, "variables": variables},
        headers=world.admin_a.headers,
    )
    created = response.json()["data"]["createClient"]
    assert created["__typename"] == "ClientWithSecret"
    assert created["clientSecret"].startswith("lvr_cs_")
    assert sorted(created["client"]["scopes"]) == ["events:write", "profiles:write"]
    listed = await client.post(
        "/graphql",
        json={
            "query": "query ($a: ID!) { clients(agency: $a) { nodes { id name } } }",
            "variables": {"a": str(world.agency_a.id)},
        },
        headers=world.admin_a.headers,
    )
    assert listed.json()["data"]["clients"]["nodes"] == [
        {"id": created["client"]["id"], "name": "Shop sync"}
    ]


async def test_graphql_refuses_a_manager_with_a_graphql_error(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await client.post(
        "/graphql",
        json={
            "query": CREATE_CLIENT,
            "variables": {"agency": str(world.agency_a.id), "input": {"name": "Mine"}},
        },
        headers=world.manager_a.headers,
    )
    # Short of the role on the agency: a GraphQL error, as on every field.
    (error,) = response.json()["errors"]
    assert error["extensions"]["status"] == 403
    assert response.json()["data"] is None


async def test_a_client_write_is_audited_as_the_client(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    body = (
        await create(client, world, {"name": "ERP", "brandIds": [str(world.brand_a.id)]})
    ).json()
    async with oauth_client(
        app, client_id=body["clientId"], client_secret=body["clientSecret"]
    ) as oauth:
        token = await oauth.fetch_token(TOKEN_URL, grant_type="client_credentials")
    changed = await client.patch(
        f"/v1/brands/{world.brand_a.id}/settings",
        json={"senderName": "Shop"},
        headers={"Authorization": f"Bearer {token['access_token']}"},
    )
    assert changed.status_code == 200
    events = await client.get(
        f"/v1/agencies/{world.agency_a.id}/audit-events",
        params={"objectType": "brand_settings", "action": "updated"},
        headers=world.owner_a.headers,
    )
    assert [e["actor"] for e in events.json()["items"]] == [f"client:{body['clientId']}"]
