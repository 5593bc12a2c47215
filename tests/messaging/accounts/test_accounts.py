"""Sender identities and provider accounts over REST and GraphQL: credentials tried against a
real server before anything is stored (a refusal is a 422 with the provider's reason), never
answered back nor logged; DKIM keys generated or uploaded and shown as their DNS record; brand
isolation and roles."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from litestar import Litestar

from backend.config import Settings
from backend.messaging.providers import dkim
from tests.factories import World, make_world, problem
from tests.messaging.servers.smtp import SmtpSink, smtp_sink
from tests.profiles.helpers import brand_url
from tests.test_graphql import gql, gql_data

LOGIN = ("relay-user", "s3cret-relay-password")
# The relay takes AUTH in plain text: it listens on loopback for the test only.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def graphql_body(relay: SmtpSink, password: str = LOGIN[1]) -> dict[str, Any]:
    return {**smtp_body(relay, password), "kind": "SMTP"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The test relay listens on loopback.
    return settings.replace(webhook_allow_private_targets=True, webhook_allow_http=True)


@pytest.fixture
def relay() -> Iterator[SmtpSink]:
    with smtp_sink(login=LOGIN) as sink:
        yield sink


@pytest.fixture
async def world(app: Litestar, client: httpx.AsyncClient) -> World:
    return await make_world(app)


def smtp_body(relay: SmtpSink, password: str = LOGIN[1], **extra: Any) -> dict[str, Any]:
    return {
        "kind": "smtp",
        "name": "Relay",
        "settings": {"host": "127.0.0.1", "port": relay.port, "security": "none"},
        "credentials": {"username": LOGIN[0], "password": password},
        **extra,
    }


async def accounts(client: httpx.AsyncClient, world: World) -> list[dict[str, Any]]:
    response = await client.get(
        brand_url(world, "/provider-accounts"), headers=world.viewer_a.headers
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_an_account_is_stored_once_its_credentials_work_and_never_shows_them(
    client: httpx.AsyncClient, world: World, relay: SmtpSink, capfd: pytest.CaptureFixture[str]
) -> None:
    created = await client.post(
        brand_url(world, "/provider-accounts"),
        json=smtp_body(relay),
        headers=world.manager_a.headers,
    )
    assert created.status_code == 201, created.text
    account = created.json()
    assert account["kind"] == "smtp"
    assert account["channel"] == "email"
    assert account["isDefault"] is True  # the channel's first account
    assert account["credentialFields"] == ["password", "username"]
    assert account["settings"]["host"] == "127.0.0.1"
    assert relay.connections == 1  # the test call
    read = await client.get(
        brand_url(world, f"/provider-accounts/{account['id']}"), headers=world.viewer_a.headers
    )
    listed = await accounts(client, world)
    for text in (created.text, read.text, str(listed), capfd.readouterr()):
        assert LOGIN[1] not in str(text)


async def test_a_refused_credential_is_a_422_with_the_reason_and_nothing_is_stored(
    client: httpx.AsyncClient, world: World, relay: SmtpSink
) -> None:
    response = await client.post(
        brand_url(world, "/provider-accounts"),
        json=smtp_body(relay, password="wrong"),
        headers=world.manager_a.headers,
    )
    body = problem(response, 422)
    assert body["type"].endswith("provider-check-failed")
    assert "535" in body["detail"]
    assert await accounts(client, world) == []


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"settings": {"host": "127.0.0.1", "port": "twenty-five"}}, "/settings/port"),
        ({"settings": {"port": 25}}, "/settings"),
        ({"kind": "sendgrid", "settings": {}, "credentials": {}}, "/credentials"),
        ({"channel": "sms"}, "/channel"),
        ({"kind": "pigeon"}, "/kind"),
        (
            {
                "kind": "sendgrid",
                "settings": {"baseUrl": "http://10.0.0.1"},
                "credentials": {"apiKey": "k"},
            },
            None,
        ),
    ],
)
async def test_bad_settings_are_a_422_naming_the_field(
    client: httpx.AsyncClient,
    world: World,
    relay: SmtpSink,
    settings: Settings,
    change: dict[str, Any],
    pointer: str | None,
) -> None:
    response = await client.post(
        brand_url(world, "/provider-accounts"),
        json={**smtp_body(relay), **change},
        headers=world.manager_a.headers,
    )
    body = problem(response, 422)
    if pointer is not None:
        assert any(e.get("pointer", "").startswith(pointer) for e in body["errors"]), body
    assert relay.connections == 0
    assert await accounts(client, world) == []


async def test_accounts_are_out_of_reach_of_other_brands_and_viewers(
    client: httpx.AsyncClient, world: World, relay: SmtpSink
) -> None:
    created = await client.post(
        brand_url(world, "/provider-accounts"),
        json=smtp_body(relay),
        headers=world.manager_a.headers,
    )
    account_id = created.json()["id"]
    other = f"/v1/brands/{world.brand_b.id}"
    for method, path in [
        ("GET", f"{other}/provider-accounts/{account_id}"),
        ("PATCH", f"{other}/provider-accounts/{account_id}"),
        ("DELETE", f"{other}/provider-accounts/{account_id}"),
    ]:
        response = await client.request(
            method,
            path,
            headers=world.owner_b.headers,
            json={"name": "x"} if method == "PATCH" else None,
        )
        problem(response, 404)
    # Brand A's routes are out of brand B's owner's reach altogether.
    problem(
        await client.get(brand_url(world, "/provider-accounts"), headers=world.owner_b.headers), 404
    )
    problem(
        await client.get(brand_url(world, "/captured-messages"), headers=world.owner_b.headers), 404
    )
    problem(
        await client.post(
            brand_url(world, "/sender-identities"),
            json={"name": "x", "fromName": "x", "fromAddress": "x@brand.example"},
            headers=world.viewer_a.headers,
        ),
        403,
    )
    listed = await client.get(f"{other}/provider-accounts", headers=world.owner_b.headers)
    assert listed.json()["items"] == []


async def test_a_change_of_credentials_is_tried_first(
    client: httpx.AsyncClient, world: World, relay: SmtpSink
) -> None:
    created = (
        await client.post(
            brand_url(world, "/provider-accounts"),
            json=smtp_body(relay),
            headers=world.manager_a.headers,
        )
    ).json()
    url = brand_url(world, f"/provider-accounts/{created['id']}")
    refused = await client.patch(
        url,
        json={"credentials": {"username": LOGIN[0], "password": "wrong"}, "name": "Renamed"},
        headers=world.manager_a.headers,
    )
    assert "535" in problem(refused, 422)["detail"]
    kept = (await client.get(url, headers=world.viewer_a.headers)).json()
    assert kept["name"] == "Relay"
    assert kept["updatedAt"] == created["updatedAt"]
    renamed = await client.patch(url, json={"name": "Renamed"}, headers=world.manager_a.headers)
    assert renamed.json()["name"] == "Renamed"
    deleted = await client.delete(url, headers=world.manager_a.headers)
    assert deleted.status_code == 204
    assert await accounts(client, world) == []


async def test_identities_with_generated_and_uploaded_dkim_keys(
    client: httpx.AsyncClient, world: World
) -> None:
    created = await client.post(
        brand_url(world, "/sender-identities"),
        json={
            "name": "News",
            "fromName": "Brand",
            "fromAddress": "news@brand.example",
            "smsSenderId": "BRAND",
        },
        headers=world.manager_a.headers,
    )
    assert created.status_code == 201, created.text
    identity = created.json()
    assert identity["isDefault"] is True
    assert identity["dkim"] is None
    url = brand_url(world, f"/sender-identities/{identity['id']}/dkim")
    generated = await client.put(url, json={"selector": "lv1"}, headers=world.manager_a.headers)
    assert generated.status_code == 200, generated.text
    record = generated.json()["dkim"]
    assert record["dnsName"] == "lv1._domainkey.brand.example"
    assert record["dnsType"] == "TXT"
    assert record["dnsValue"].startswith("v=DKIM1; k=rsa; p=MII")
    assert "PRIVATE" not in generated.text
    key = dkim.generate_private_key()
    uploaded = await client.put(
        url,
        json={"selector": "lv2", "domain": "mail.brand.example", "privateKey": key},
        headers=world.manager_a.headers,
    )
    assert uploaded.json()["dkim"]["dnsValue"] == dkim.dns_value(dkim.public_key_of(key))
    assert "PRIVATE" not in uploaded.text
    bad = await client.put(
        url, json={"selector": "lv3", "privateKey": "not a key"}, headers=world.manager_a.headers
    )
    assert problem(bad, 422)["errors"][0]["pointer"] == "/privateKey"
    read = await client.get(
        brand_url(world, f"/sender-identities/{identity['id']}"), headers=world.viewer_a.headers
    )
    assert read.json()["dkim"]["selector"] == "lv2"  # the refused upload changed nothing
    problem(
        await client.get(
            f"/v1/brands/{world.brand_b.id}/sender-identities/{identity['id']}",
            headers=world.owner_b.headers,
        ),
        404,
    )


CREATE = """mutation($brand: ID!, $input: CreateProviderAccountInput!) {
  createProviderAccount(brand: $brand, input: $input) {
    __typename
    ... on ProviderAccount { uuid kind channel isDefault settings credentialFields }
    ... on OperationError { httpStatus problemType detail }
  } }"""
LIST = """query($brand: ID!) {
  providerAccounts(brand: $brand) { nodes { uuid name credentialFields } totalCount } }"""


async def test_graphql_tries_credentials_and_never_shows_them(
    client: httpx.AsyncClient, world: World, relay: SmtpSink
) -> None:
    brand = str(world.brand_a.id)
    refused = await gql_data(
        client,
        CREATE,
        world.manager_a,
        {"brand": brand, "input": graphql_body(relay, password="wrong")},
    )
    error = refused["createProviderAccount"]
    assert error["__typename"] == "OperationError"
    assert error["httpStatus"] == 422
    assert error["problemType"].endswith("provider-check-failed")
    assert "535" in error["detail"]
    created = await gql_data(
        client, CREATE, world.manager_a, {"brand": brand, "input": graphql_body(relay)}
    )
    account = created["createProviderAccount"]
    assert account["__typename"] == "ProviderAccount", account
    assert account["credentialFields"] == ["password", "username"]
    listed = await gql_data(client, LIST, world.viewer_a, {"brand": brand})
    assert listed["providerAccounts"]["totalCount"] == 1
    no_secret = await gql(
        client,
        "query($brand: ID!) { providerAccounts(brand: $brand) { nodes { credentials } } }",
        world.viewer_a,
        {"brand": brand},
    )
    assert "errors" in no_secret  # there is no such field
    other = await gql(client, LIST, world.owner_b, {"brand": brand})
    assert other.get("errors"), other
