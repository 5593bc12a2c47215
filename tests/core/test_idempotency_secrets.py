"""``Idempotency-Key`` never keeps nor replays a secret shown once; OAuth keeps nothing."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import select

from backend.app import create_app
from backend.config import Settings
from backend.core.idempotency import SHOWS_SECRET, IdempotencyRecord
from tests.auth.oauth_helpers import TOKEN_URL, oauth_client
from tests.factories import World, make_world, problem, session_of


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Webhook endpoints on loopback may be created (never contacted here).
    return settings.replace(webhook_allow_http=True, webhook_allow_private_targets=True)


async def stored_records(app: Litestar) -> list[str]:
    """Every idempotency row, all columns as text."""
    async with session_of(app) as session:
        rows = (await session.scalars(select(IdempotencyRecord))).all()
        return [
            repr(
                (
                    r.key,
                    r.request_hash,
                    r.status_code,
                    r.response_headers,
                    (r.response_body or b"").decode("latin-1"),
                )
            )
            for r in rows
        ]


@dataclass(frozen=True)
class SecretRoute:
    name: str
    send: Callable[[httpx.AsyncClient, World, dict[str, str]], Awaitable[httpx.Response]]
    secret_of: Callable[[dict[str, Any]], str]
    count: Callable[[httpx.AsyncClient, World], Awaitable[int]]


def brand(world: World, path: str) -> str:
    return f"/v1/brands/{world.brand_a.id}{path}"


def clients_url(world: World) -> str:
    return f"/v1/agencies/{world.agency_a.id}/clients"


async def count_items(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> int:
    response = await client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    return len(response.json()["items"])


async def create_connector(
    client: httpx.AsyncClient, world: World, key: dict[str, str]
) -> httpx.Response:
    return await client.post(
        brand(world, "/connectors"),
        json={"type": "standard_webhooks", "name": "Shop"},
        headers={**world.manager_a.headers, **key},
    )


async def create_endpoint(
    client: httpx.AsyncClient, world: World, key: dict[str, str]
) -> httpx.Response:
    return await client.post(
        brand(world, "/webhook-endpoints"),
        json={"url": "http://127.0.0.1:9/hook", "eventTypes": ["profile.created"]},
        headers={**world.manager_a.headers, **key},
    )


async def create_client(
    client: httpx.AsyncClient, world: World, key: dict[str, str]
) -> httpx.Response:
    return await client.post(
        clients_url(world),
        json={"name": "ERP", "brandIds": [str(world.brand_a.id)]},
        headers={**world.admin_a.headers, **key},
    )


CREATE_CLIENT = """
mutation ($agency: ID!, $input: CreateClientInput!) {
  createClient(agency: $agency, input: $input) {
    ... on ClientWithSecret { clientSecret client { id } }
  }
}"""


async def create_client_graphql(
    client: httpx.AsyncClient, world: World, key: dict[str, str]
) -> httpx.Response:
    variables = {"agency": str(world.agency_a.id), "input": {"name": "ERP"}}
    return await client.post(
        "/graphql",
        json={"query": CREATE_CLIENT, "variables": variables},
        headers={**world.admin_a.headers, **key},
    )


CREATE_CONNECTOR = """
mutation ($brand: ID!, $input: CreateConnectorInput!) {
  createConnector(brand: $brand, input: $input) { ... on ConnectorWithSecret { secret } }
}"""
CREATE_ENDPOINT = """
mutation ($brand: ID!, $input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(brand: $brand, input: $input) { ... on CreatedWebhookEndpoint { secret } }
}"""


def brand_graphql(
    document: str, input: dict[str, Any]
) -> Callable[[httpx.AsyncClient, World, dict[str, str]], Awaitable[httpx.Response]]:
    async def send(client: httpx.AsyncClient, world: World, key: dict[str, str]) -> httpx.Response:
        return await client.post(
            "/graphql",
            json={"query": document,
                  "variables": {"brand": str(world.brand_a.id), "input": input}},
            headers={**world.manager_a.headers, **key},
        )  # fmt: skip

    return send


ROUTES = [
    SecretRoute(
        "connector",
        create_connector,
        lambda body: body["secret"],
        lambda c, w: count_items(c, brand(w, "/connectors"), w.manager_a.headers),
    ),
    SecretRoute(
        "webhook-endpoint",
        create_endpoint,
        lambda body: body["secret"],
        lambda c, w: count_items(c, brand(w, "/webhook-endpoints"), w.manager_a.headers),
    ),
    SecretRoute(
        "graphql-connector",
        brand_graphql(CREATE_CONNECTOR, {"type": "STANDARD_WEBHOOKS", "name": "Shop"}),
        lambda body: body["data"]["createConnector"]["secret"],
        lambda c, w: count_items(c, brand(w, "/connectors"), w.manager_a.headers),
    ),
    SecretRoute(
        "graphql-webhook-endpoint",
        brand_graphql(
            CREATE_ENDPOINT, {"url": "http://127.0.0.1:9/hook", "eventTypes": ["profile.created"]}
        ),
        lambda body: body["data"]["createWebhookEndpoint"]["secret"],
        lambda c, w: count_items(c, brand(w, "/webhook-endpoints"), w.manager_a.headers),
    ),
    SecretRoute(
        "oauth-client",
        create_client,
        lambda body: body["clientSecret"],
        lambda c, w: count_items(c, clients_url(w), w.admin_a.headers),
    ),
    SecretRoute(
        "graphql-oauth-client",
        create_client_graphql,
        lambda body: body["data"]["createClient"]["clientSecret"],
        lambda c, w: count_items(c, clients_url(w), w.admin_a.headers),
    ),
]


@pytest.mark.parametrize("route", ROUTES, ids=[r.name for r in ROUTES])
async def test_a_secret_shown_once_is_never_stored_nor_replayed(
    app: Litestar, client: httpx.AsyncClient, route: SecretRoute
) -> None:
    world = await make_world(app)
    key = {"Idempotency-Key": f"{route.name}-1"}
    first = await route.send(client, world, key)
    assert first.status_code in (200, 201), first.text
    secret = route.secret_of(first.json())
    assert secret
    records = await stored_records(app)
    assert len(records) == 1
    assert secret not in records[0]
    replay = await route.send(client, world, key)
    refused = problem(replay, 409)
    assert refused["type"] == "urn:levier:problem:idempotent-answer-withheld"
    assert secret not in replay.text
    assert await route.count(client, world) == 1  # the effect happened once


async def test_a_refused_secret_request_is_still_replayed(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    key = {"Idempotency-Key": "bad-client"}
    bad = {"name": "", "brandIds": [str(world.brand_a.id)]}
    first = await client.post(
        clients_url(world), json=bad, headers={**world.admin_a.headers, **key}
    )
    second = await client.post(
        clients_url(world), json=bad, headers={**world.admin_a.headers, **key}
    )
    problem(first, 422)
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json() == first.json()


async def test_oauth_token_requests_keep_nothing_in_the_store(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    created = (await create_client(client, world, {})).json()
    tokens = []
    for _ in range(2):
        async with oauth_client(
            app,
            client_id=created["clientId"],
            client_secret=created["clientSecret"],
            headers={"Idempotency-Key": "token-1"},
        ) as oauth:
            token = await oauth.fetch_token(TOKEN_URL, grant_type="client_credentials")
        tokens.append(token["access_token"])
    assert tokens[0] != tokens[1]  # not a replay: each call is its own grant
    assert await stored_records(app) == []


_SHOWN_ONCE = re.compile(r"(?:^|[a-z])(?:secret|Secret|token|Token)$")


def _secret_fields(document: dict[str, Any], response: dict[str, Any]) -> list[str]:
    """The properties of a response's schemas named like a secret shown once (``secret``,
    ``clientSecret``, ``accessToken``…; not ``secretHint`` or ``secretPrefix``)."""
    found: list[str] = []
    for content in response.get("content", {}).values():
        ref = content.get("schema", {}).get("$ref", "")
        schema = document["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})
        found += [name for name in schema.get("properties", {}) if _SHOWN_ONCE.search(name)]
    return found


def test_every_write_route_answering_a_secret_is_flagged() -> None:
    # A route added later that shows a secret (a provider key, a token) must say so, or the
    # idempotency store would keep the secret and hand it out again on a replay.
    app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:"))
    document = app.openapi_schema.to_schema()
    checked: list[str] = []
    for route in app.routes:
        path = re.sub(r"\{(\w+):[^}]+\}", r"{\1}", route.path)
        for handler in getattr(route, "route_handlers", []):
            for method in getattr(handler, "http_methods", set()) & {"POST", "PUT", "PATCH"}:
                operation = document["paths"].get(path, {}).get(method.lower(), {})
                for status, response in operation.get("responses", {}).items():
                    if status.startswith("2") and _secret_fields(document, response):
                        checked.append(f"{method} {path}")
                        assert handler.opt.get(SHOWS_SECRET), f"{method} {path} shows a secret"
    assert len(checked) >= 5, checked  # clients (create, rotate), connectors, webhook endpoints
