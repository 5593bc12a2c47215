"""GraphQL of outbound webhooks: endpoints created (the secret answered once, then only its
hint), read by id and `node(id:)`, listed as connections, changed and deleted; deliveries,
a delivery with its payload and its attempts, redelivery; bad input (a URL the deployment
refuses to send to) is an `OperationError` naming the field; another brand's objects are not
found; a viewer cannot write. Tests that deliver send to a receiver on 127.0.0.1 only."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from litestar import Litestar

from backend.config import Settings
from tests.factories import World, make_world, run_jobs
from tests.profiles.helpers import create_profile
from tests.test_graphql import gql, gql_data
from tests.webhooks.receiver import receiver

ENDPOINT_FIELDS = (
    "id uuid url eventTypes description enabled secretHint consecutiveFailures disabledAt "
    "disabledReason createdAt updatedAt"
)
DELIVERY_FIELDS = (
    "id uuid endpointId eventId eventType status attemptCount nextAttemptAt lastStatusCode "
    "lastError createdAt finishedAt payload"
)
CREATE = f"""mutation($brand: ID!, $input: CreateWebhookEndpointInput!) {{
  createWebhookEndpoint(brand: $brand, input: $input) {{
    __typename
    ... on CreatedWebhookEndpoint {{ secret endpoint {{ {ENDPOINT_FIELDS} }} }}
    ... on OperationError {{ httpStatus detail fieldErrors {{ field pointer message }} }}
  }} }}"""
UPDATE = f"""mutation($brand: ID!, $input: UpdateWebhookEndpointInput!) {{
  updateWebhookEndpoint(brand: $brand, input: $input) {{
    __typename
    ... on WebhookEndpoint {{ {ENDPOINT_FIELDS} }}
    ... on OperationError {{ httpStatus detail fieldErrors {{ field pointer message }} }}
  }} }}"""
DELETE = """mutation($brand: ID!, $input: WebhookEndpointIdInput!) {
  deleteWebhookEndpoint(brand: $brand, input: $input) {
    __typename ... on Deleted { id } ... on OperationError { httpStatus } } }"""
REDELIVER = f"""mutation($brand: ID!, $input: WebhookDeliveryIdInput!) {{
  redeliverWebhook(brand: $brand, input: $input) {{
    __typename
    ... on WebhookDelivery {{ {DELIVERY_FIELDS} }}
    ... on OperationError {{ httpStatus }} }} }}"""
READ = f"""query($brand: ID!, $id: ID!) {{
  webhookEndpoint(brand: $brand, id: $id) {{ {ENDPOINT_FIELDS} }}
  node(id: $id, brand: $brand) {{ __typename id ... on WebhookEndpoint {{ url }} }} }}"""
LIST = """query($brand: ID!, $first: Int!, $after: String) {
  webhookEndpoints(brand: $brand, first: $first, after: $after) {
    nodes { id url } pageInfo { hasNextPage endCursor } totalCount } }"""
DELIVERIES = f"""query($brand: ID!, $id: ID!, $first: Int!, $after: String,
                     $status: WebhookDeliveryStatus) {{
  webhookDeliveries(brand: $brand, endpointId: $id, first: $first, after: $after,
                    status: $status) {{
    nodes {{ {DELIVERY_FIELDS} }} pageInfo {{ hasNextPage endCursor }} totalCount }} }}"""
DELIVERY = f"""query($brand: ID!, $id: ID!) {{
  webhookDelivery(brand: $brand, id: $id) {{ {DELIVERY_FIELDS} }}
  node(id: $id, brand: $brand) {{ __typename id }} }}"""
ATTEMPTS = """query($brand: ID!, $id: ID!) {
  webhookAttempts(brand: $brand, deliveryId: $id) {
    nodes { id attemptedAt succeeded statusCode durationMs responseExcerpt error }
    totalCount } }"""
PUBLIC_URL = "https://crm.example.com/hooks"  # never contacted: no test here runs jobs for it


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """Tests that deliver (marked `worker`) send to a receiver on loopback over plain http; the
    others keep the deployment's refusal of such targets, which the bad-input cases check.
    Retries never fall due during a test."""
    if request.node.get_closest_marker("worker"):
        return settings.replace(
            webhook_allow_http=True,
            webhook_allow_private_targets=True,
            webhook_retry_base_seconds=3600.0,
        )
    return settings


async def create(client: httpx.AsyncClient, world: World, **input: Any) -> dict[str, Any]:
    data = await gql_data(
        client, CREATE, world.manager_a, {"brand": str(world.brand_a.id), "input": input}
    )
    result: dict[str, Any] = data["createWebhookEndpoint"]
    assert result["__typename"] == "CreatedWebhookEndpoint", result
    return result


async def test_an_endpoint_is_created_read_changed_and_deleted(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = str(world.brand_a.id)
    created = await create(client, world, url=PUBLIC_URL, eventTypes=["profile.created"])
    secret, endpoint = created["secret"], created["endpoint"]
    assert secret.startswith("whsec_")
    assert endpoint["secretHint"] == secret[:10] + "…"
    assert (endpoint["eventTypes"], endpoint["enabled"]) == (["profile.created"], True)
    assert endpoint["id"] != endpoint["uuid"]

    read = await gql_data(client, READ, world.viewer_a, {"brand": brand, "id": endpoint["id"]})
    assert read["webhookEndpoint"] == endpoint
    assert read["node"] == {"__typename": "WebhookEndpoint", "id": endpoint["id"],
                            "url": PUBLIC_URL}  # fmt: skip
    rest = await client.get(
        f"/v1/brands/{brand}/webhook-endpoints/{endpoint['uuid']}", headers=world.viewer_a.headers
    )
    assert rest.json()["secretHint"] == endpoint["secretHint"]
    assert secret not in rest.text

    changed = await gql_data(
        client,
        UPDATE,
        world.manager_a,
        {"brand": brand, "input": {"id": endpoint["uuid"], "description": "CRM",
                                   "eventTypes": ["consent.changed", "import.finished"]}},
    )  # fmt: skip
    updated = changed["updateWebhookEndpoint"]
    assert (updated["description"], updated["eventTypes"], updated["url"]) == (
        "CRM",
        ["consent.changed", "import.finished"],
        PUBLIC_URL,
    )
    cleared = await gql_data(
        client,
        UPDATE,
        world.manager_a,
        {"brand": brand, "input": {"id": endpoint["id"], "description": None}},
    )
    assert cleared["updateWebhookEndpoint"]["description"] is None
    assert cleared["updateWebhookEndpoint"]["eventTypes"] == ["consent.changed", "import.finished"]

    deleted = await gql_data(
        client, DELETE, world.manager_a, {"brand": brand, "input": {"id": endpoint["id"]}}
    )
    assert deleted["deleteWebhookEndpoint"] == {"__typename": "Deleted", "id": endpoint["id"]}
    gone = await gql_data(client, READ, world.viewer_a, {"brand": brand, "id": endpoint["id"]})
    assert gone == {"webhookEndpoint": None, "node": None}


async def test_endpoints_are_paged_and_the_secret_never_shown_again(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = str(world.brand_a.id)
    urls = [f"https://crm{n}.example.com/hooks" for n in range(3)]
    secrets = [
        (await create(client, world, url=url, eventTypes=["import.finished"]))["secret"]
        for url in urls
    ]
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        answer = await gql(
            client, LIST.replace("nodes { id url }", "nodes { " + ENDPOINT_FIELDS + " }"),
            world.viewer_a, {"brand": brand, "first": 2, "after": after},
        )  # fmt: skip
        assert not any(s in json.dumps(answer) for s in secrets)
        connection = answer["data"]["webhookEndpoints"]
        assert connection["totalCount"] == 3
        seen += [n["url"] for n in connection["nodes"]]
        pages += 1
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert (seen, pages) == (urls, 2)
    asked = await gql(
        client,
        "query($brand: ID!) { webhookEndpoints(brand: $brand) { nodes { secret } } }",
        world.viewer_a,
        {"brand": brand},
    )
    assert "Cannot query field 'secret'" in asked["errors"][0]["message"]


BAD_CREATE = [
    pytest.param({"url": "https://10.0.0.1/hooks", "eventTypes": ["profile.created"]}, "url",
                 id="private-address"),
    pytest.param({"url": "https://[::1]/hooks", "eventTypes": ["profile.created"]}, "url",
                 id="loopback-address"),
    pytest.param({"url": "http://crm.example.com/h", "eventTypes": ["profile.created"]}, "url",
                 id="plain-http"),
    pytest.param({"url": "https://u:p@crm.example.com/h", "eventTypes": ["profile.created"]},
                 "url", id="credentials"),
    pytest.param({"url": "https://crm.example.com/h", "eventTypes": []}, "eventTypes",
                 id="no-event-type"),
    pytest.param({"url": "https://crm.example.com/h", "eventTypes": ["nope"]}, "eventTypes",
                 id="unknown-event-type"),
    pytest.param({"url": "https://crm.example.com/h", "eventTypes": ["profile.created"],
                  "description": "x" * 201}, "description", id="long-description"),
]  # fmt: skip


@pytest.mark.parametrize(("input", "field"), BAD_CREATE)
async def test_bad_endpoint_input_names_the_field(
    app: Litestar, client: httpx.AsyncClient, input: dict[str, Any], field: str
) -> None:
    world = await make_world(app)
    brand = str(world.brand_a.id)
    answer = await gql_data(client, CREATE, world.manager_a, {"brand": brand, "input": input})
    error = answer["createWebhookEndpoint"]
    assert (error["__typename"], error["httpStatus"]) == ("OperationError", 422)
    assert error["fieldErrors"][0]["field"] == field
    listed = await gql_data(client, LIST, world.viewer_a, {"brand": brand, "first": 5})
    assert listed["webhookEndpoints"]["nodes"] == []


async def test_an_update_to_a_refused_url_names_it_and_changes_nothing(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = str(world.brand_a.id)
    endpoint = (await create(client, world, url=PUBLIC_URL, eventTypes=["import.finished"]))[
        "endpoint"
    ]
    answer = await gql_data(
        client,
        UPDATE,
        world.manager_a,
        {"brand": brand, "input": {"id": endpoint["id"], "url": "https://169.254.169.254/x"}},
    )
    error = answer["updateWebhookEndpoint"]
    assert (error["__typename"], error["httpStatus"]) == ("OperationError", 422)
    assert error["fieldErrors"] == [
        {"field": "url", "pointer": None, "message": "address not allowed"}
    ]
    read = await gql_data(client, READ, world.viewer_a, {"brand": brand, "id": endpoint["id"]})
    assert read["webhookEndpoint"]["url"] == PUBLIC_URL


@pytest.mark.worker
async def test_deliveries_attempts_and_redelivery(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    brand = str(world.brand_a.id)
    with receiver(500) as target:
        endpoint = (await create(client, world, url=target.url, eventTypes=["profile.created"]))[
            "endpoint"
        ]
        ada = await create_profile(client, world, email="ada@example.com")
        await create_profile(client, world, email="bob@example.com")
        await run_jobs(app)
    # The first delivery was tried once (500) and waits for its retry; the second behind it.
    assert len(target.requests) == 1
    variables = {"brand": brand, "id": endpoint["id"], "first": 1}
    first = (await gql_data(client, DELIVERIES, world.viewer_a, variables))["webhookDeliveries"]
    assert (first["totalCount"], first["pageInfo"]["hasNextPage"]) == (2, True)
    [tried] = first["nodes"]
    assert (tried["status"], tried["attemptCount"], tried["lastStatusCode"]) == ("PENDING", 1, 500)
    assert tried["nextAttemptAt"] is not None
    assert tried["payload"] is None  # only when read by itself
    assert tried["endpointId"] == endpoint["uuid"]
    second = await gql_data(
        client,
        DELIVERIES,
        world.viewer_a,
        {**variables, "after": first["pageInfo"]["endCursor"]},
    )
    [waiting] = second["webhookDeliveries"]["nodes"]
    assert (waiting["attemptCount"], second["webhookDeliveries"]["pageInfo"]["hasNextPage"]) == (
        0,
        False,
    )
    succeeded = await gql_data(
        client, DELIVERIES, world.viewer_a, {**variables, "first": 5, "status": "SUCCEEDED"}
    )
    assert succeeded["webhookDeliveries"]["nodes"] == []

    read = await gql_data(client, DELIVERY, world.viewer_a, {"brand": brand, "id": tried["id"]})
    assert read["webhookDelivery"]["payload"]["profile"]["id"] == ada["id"]
    assert read["node"] == {"__typename": "WebhookDelivery", "id": tried["id"]}
    log = await gql_data(client, ATTEMPTS, world.viewer_a, {"brand": brand, "id": tried["uuid"]})
    [attempt] = log["webhookAttempts"]["nodes"]
    assert (attempt["succeeded"], attempt["statusCode"], attempt["responseExcerpt"]) == (
        False,
        500,
        "try again later",
    )
    assert log["webhookAttempts"]["totalCount"] == 1

    again = await gql_data(
        client, REDELIVER, world.manager_a, {"brand": brand, "input": {"id": tried["id"]}}
    )
    queued = again["redeliverWebhook"]
    assert queued["__typename"] == "WebhookDelivery"
    assert queued["id"] not in (tried["id"], waiting["id"])
    assert (queued["eventId"], queued["status"], queued["attemptCount"]) == (
        tried["eventId"],
        "PENDING",
        0,
    )
    after = await gql_data(client, DELIVERIES, world.viewer_a, variables)
    assert after["webhookDeliveries"]["totalCount"] == 3


async def test_another_brands_webhooks_are_not_found(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    endpoint = (await create(client, world, url=PUBLIC_URL, eventTypes=["profile.created"]))[
        "endpoint"
    ]
    await create_profile(client, world, email="ada@example.com")  # a delivery, never sent
    mine = await gql_data(
        client,
        DELIVERIES,
        world.viewer_a,
        {"brand": str(world.brand_a.id), "id": endpoint["id"], "first": 5},
    )
    [delivery] = mine["webhookDeliveries"]["nodes"]
    theirs = str(world.brand_b.id)
    read = await gql_data(client, READ, world.owner_b, {"brand": theirs, "id": endpoint["id"]})
    assert read == {"webhookEndpoint": None, "node": None}
    one = await gql_data(client, DELIVERY, world.owner_b, {"brand": theirs, "id": delivery["id"]})
    assert one == {"webhookDelivery": None, "node": None}
    listed = await gql_data(client, LIST, world.owner_b, {"brand": theirs, "first": 5})
    assert (listed["webhookEndpoints"]["nodes"], listed["webhookEndpoints"]["totalCount"]) == (
        [],
        0,
    )
    writes = [
        (UPDATE, {"id": endpoint["id"], "enabled": False}),
        (DELETE, {"id": endpoint["id"]}),
        (REDELIVER, {"id": delivery["id"]}),
    ]
    for document, input in writes:
        answer = await gql_data(client, document, world.owner_b, {"brand": theirs, "input": input})
        [result] = answer.values()
        assert (result["__typename"], result["httpStatus"]) == ("OperationError", 404)
    for document, variables in [
        (DELIVERIES, {"id": endpoint["id"], "first": 5}),
        (ATTEMPTS, {"id": delivery["id"]}),
    ]:
        refused = await gql(client, document, world.owner_b, {"brand": theirs, **variables})
        assert refused["data"] is None
        assert refused["errors"][0]["extensions"]["status"] == 404
    outside = await gql(client, LIST, world.owner_b, {"brand": str(world.brand_a.id), "first": 5})
    assert outside["errors"][0]["extensions"]["status"] == 404
    still = await gql_data(
        client, READ, world.viewer_a, {"brand": str(world.brand_a.id), "id": endpoint["id"]}
    )
    assert still["webhookEndpoint"]["enabled"] is True


WRITES = [
    pytest.param(CREATE, lambda e, d: {"url": PUBLIC_URL, "eventTypes": ["profile.created"]},
                 id="create"),
    pytest.param(UPDATE, lambda e, d: {"id": e, "enabled": False}, id="update"),
    pytest.param(DELETE, lambda e, d: {"id": e}, id="delete"),
    pytest.param(REDELIVER, lambda e, d: {"id": d}, id="redeliver"),
]  # fmt: skip


@pytest.mark.parametrize(("document", "input"), WRITES)
async def test_a_viewer_cannot_write_webhooks(
    app: Litestar, client: httpx.AsyncClient, document: str, input: Any
) -> None:
    world = await make_world(app)
    brand = str(world.brand_a.id)
    endpoint = (await create(client, world, url=PUBLIC_URL, eventTypes=["profile.created"]))[
        "endpoint"
    ]
    await create_profile(client, world, email="ada@example.com")
    listed = await gql_data(
        client, DELIVERIES, world.viewer_a, {"brand": brand, "id": endpoint["id"], "first": 1}
    )
    [delivery] = listed["webhookDeliveries"]["nodes"]
    answer = await gql(
        client,
        document,
        world.viewer_a,
        {"brand": brand, "input": input(endpoint["id"], delivery["id"])},
    )
    assert answer["data"] is None
    assert answer["errors"][0]["extensions"]["code"] in {"forbidden", "insufficient-scope"}
