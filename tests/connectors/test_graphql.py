"""GraphQL of partner connectors: created (the secret answered once, then only its hint),
fetched by id and by `node(id:)`, listed as connections, changed, rotated, deleted; deliveries
listed and a failed one replayed; bad input is an `OperationError` naming the field (without
echoing a secret); another brand's connector is not found; a viewer cannot write."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
from litestar import Litestar

from tests.connectors.test_connectors import GENERIC_PAYLOAD, standard_headers
from tests.factories import World, make_world, run_jobs
from tests.test_graphql import gql, gql_data

CONNECTOR_FIELDS = "id uuid type name hookPath mapping eventName secretHint enabled createdAt"
CREATE = f"""mutation($brand: ID!, $input: CreateConnectorInput!) {{
  createConnector(brand: $brand, input: $input) {{
    __typename
    ... on ConnectorWithSecret {{ secret connector {{ {CONNECTOR_FIELDS} }} }}
    ... on OperationError {{ httpStatus detail fieldErrors {{ field pointer message }} }}
  }} }}"""
UPDATE = f"""mutation($brand: ID!, $input: UpdateConnectorInput!) {{
  updateConnector(brand: $brand, input: $input) {{
    __typename
    ... on ConnectorWithSecret {{ secret connector {{ {CONNECTOR_FIELDS} }} }}
    ... on OperationError {{ httpStatus detail fieldErrors {{ field pointer message }} }}
  }} }}"""
DELETE = """mutation($brand: ID!, $input: ConnectorIdInput!) {
  deleteConnector(brand: $brand, input: $input) {
    __typename ... on Deleted { id } ... on OperationError { httpStatus } } }"""
REPLAY = """mutation($brand: ID!, $input: ConnectorDeliveryIdInput!) {
  replayConnectorDelivery(brand: $brand, input: $input) {
    __typename
    ... on ConnectorDelivery { id uuid status error }
    ... on OperationError { httpStatus fieldErrors { field } } } }"""
READ = f"""query($brand: ID!, $id: ID!) {{
  connector(brand: $brand, id: $id) {{ {CONNECTOR_FIELDS} }}
  node(id: $id, brand: $brand) {{ __typename id ... on Connector {{ name }} }} }}"""
LIST = """query($brand: ID!, $first: Int!, $after: String) {
  connectors(brand: $brand, first: $first, after: $after) {
    nodes { id name } pageInfo { hasNextPage endCursor } totalCount } }"""
DELIVERIES = """query($brand: ID!, $id: ID!, $status: ConnectorDeliveryStatus, $after: String) {
  connectorDeliveries(brand: $brand, connectorId: $id, status: $status, first: 1,
                      after: $after) {
    nodes { id uuid connectorId externalId status error attempts result }
    pageInfo { hasNextPage endCursor } totalCount } }"""
GENERIC = {
    "type": "STANDARD_WEBHOOKS",
    "name": "Pop-ups",
    "eventName": "popup_submitted",
    "mapping": {"fields": {"email": "/contact/mail"}},
}


async def create(client: httpx.AsyncClient, world: World, **input: Any) -> dict[str, Any]:
    data = await gql_data(
        client, CREATE, world.manager_a, {"brand": str(world.brand_a.id), "input": input}
    )
    result: dict[str, Any] = data["createConnector"]
    return result


async def test_a_connector_is_created_read_listed_changed_and_deleted(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = str(world.brand_a.id)
    created = await create(client, world, **GENERIC)
    assert created["__typename"] == "ConnectorWithSecret"
    secret, connector = created["secret"], created["connector"]
    assert secret.startswith("whsec_")
    assert connector["secretHint"] == secret[:10] + "…"
    assert connector["hookPath"] == f"/v1/hooks/{connector['uuid']}"
    assert (connector["type"], connector["eventName"]) == ("STANDARD_WEBHOOKS", "popup_submitted")
    assert connector["id"] != connector["uuid"]  # the global id is opaque

    # REST shows the same connector (its id is the `uuid`).
    rest = await client.get(
        f"/v1/brands/{brand}/connectors/{connector['uuid']}", headers=world.viewer_a.headers
    )
    assert rest.json()["hookPath"] == connector["hookPath"]

    read = await gql_data(client, READ, world.viewer_a, {"brand": brand, "id": connector["id"]})
    assert read["connector"] == connector
    assert read["node"] == {"__typename": "Connector", "id": connector["id"], "name": "Pop-ups"}
    by_uuid = await gql_data(
        client, READ, world.viewer_a, {"brand": brand, "id": connector["uuid"]}
    )
    assert by_uuid["connector"] == connector

    # Renaming shows no secret; rotating answers the new one, once.
    renamed = await gql_data(
        client,
        UPDATE,
        world.manager_a,
        {"brand": brand, "input": {"id": connector["id"], "name": "Exit pop-ups"}},
    )
    assert renamed["updateConnector"]["secret"] is None
    assert renamed["updateConnector"]["connector"]["name"] == "Exit pop-ups"
    rotated = await gql_data(
        client,
        UPDATE,
        world.manager_a,
        {"brand": brand, "input": {"id": connector["id"], "rotateSecret": True}},
    )
    new_secret = rotated["updateConnector"]["secret"]
    assert new_secret.startswith("whsec_")
    assert new_secret != secret
    assert rotated["updateConnector"]["connector"]["secretHint"] == new_secret[:10] + "…"

    deleted = await gql_data(
        client, DELETE, world.manager_a, {"brand": brand, "input": {"id": connector["id"]}}
    )
    assert deleted["deleteConnector"] == {"__typename": "Deleted", "id": connector["id"]}
    gone = await gql_data(client, READ, world.viewer_a, {"brand": brand, "id": connector["id"]})
    assert gone == {"connector": None, "node": None}


async def test_connectors_are_paged(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    brand = str(world.brand_a.id)
    names = ["One", "Two", "Three"]
    for name in names:
        await create(client, world, type="QUALIFIO", name=name)
    seen: list[str] = []
    after = None
    for _ in names:
        page = await gql_data(
            client, LIST, world.viewer_a, {"brand": brand, "first": 2, "after": after}
        )
        connection = page["connectors"]
        assert connection["totalCount"] == 3
        seen += [n["name"] for n in connection["nodes"]]
        after = connection["pageInfo"]["endCursor"]
        if not connection["pageInfo"]["hasNextPage"]:
            break
    assert seen == names


async def test_the_secret_is_never_readable_again(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    brand = str(world.brand_a.id)
    created = await create(client, world, **GENERIC)
    secret = created["secret"]
    everything = await gql(
        client,
        f"""query($brand: ID!, $id: ID!) {{
          connector(brand: $brand, id: $id) {{ {CONNECTOR_FIELDS} }}
          connectors(brand: $brand) {{ nodes {{ {CONNECTOR_FIELDS} }} }}
          node(id: $id, brand: $brand) {{ ... on Connector {{ {CONNECTOR_FIELDS} }} }} }}""",
        world.manager_a,
        {"brand": brand, "id": created["connector"]["id"]},
    )
    assert everything["data"]["connector"]["secretHint"] == secret[:10] + "…"
    assert secret not in json.dumps(everything)
    # The type has no field that could show it.
    asked = await gql(
        client,
        "query($brand: ID!, $id: ID!) { connector(brand: $brand, id: $id) { secret } }",
        world.manager_a,
        {"brand": brand, "id": created["connector"]["id"]},
    )
    assert "Cannot query field 'secret'" in asked["errors"][0]["message"]
    # Nor by REST: a read shows the hint, and no `secret` key at all (as documented).
    rest = f"/v1/brands/{brand}/connectors"
    for url in (rest, f"{rest}/{created['connector']['uuid']}"):
        response = await client.get(url, headers=world.manager_a.headers)
        assert response.status_code == 200, response.text
        assert secret not in response.text
        assert '"secret"' not in response.text


BAD_INPUT = [
    pytest.param({"type": "QUALIFIO", "name": ""}, "name", id="empty-name"),
    pytest.param({"type": "QUALIFIO", "name": "Q", "eventName": "Bad Name"}, "eventName",
                 id="event-name"),
    pytest.param({"type": "QUALIFIO", "name": "Q", "secret": "short"}, "secret",
                 id="short-secret"),
    pytest.param({"type": "STANDARD_WEBHOOKS", "name": "G",
                  "secret": "not-a-whsec-secret-but-long-enough"}, "secret", id="bad-secret"),
    pytest.param({"type": "QUALIFIO", "name": "Q", "mapping": {"fields": {"x": "shoeSize"}}},
                 "mapping.fields.x", id="mapping-target"),
    pytest.param({"type": "STANDARD_WEBHOOKS", "name": "G",
                  "mapping": {"fields": {"email": "no-slash"}}}, "mapping", id="mapping-pointer"),
]  # fmt: skip


@pytest.mark.parametrize(("input", "field"), BAD_INPUT)
async def test_bad_input_names_the_field_and_never_echoes_a_secret(
    app: Litestar,
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    input: dict[str, Any],
    field: str,
) -> None:
    world = await make_world(app)
    caplog.set_level(logging.DEBUG)
    answer = await gql(
        client, CREATE, world.manager_a, {"brand": str(world.brand_a.id), "input": input}
    )
    error = answer["data"]["createConnector"]
    assert (error["__typename"], error["httpStatus"]) == ("OperationError", 422)
    assert error["fieldErrors"][0]["field"] == field
    if "secret" in input:
        logged = caplog.text + "".join(capsys.readouterr())
        assert input["secret"] not in json.dumps(answer)
        assert input["secret"] not in logged
    listed = await gql_data(
        client, LIST, world.viewer_a, {"brand": str(world.brand_a.id), "first": 5}
    )
    assert listed["connectors"]["nodes"] == []


async def test_a_secret_in_a_malformed_document_is_not_echoed(
    app: Litestar,
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    world = await make_world(app)
    caplog.set_level(logging.DEBUG)
    secret = "whsec_" + "c2VjcmV0LXNob3duLW9uY2Utb25seQ" * 2
    cases = [
        {"type": "STANDARD_WEBHOOKS", "secret": secret},  # no name
        {"type": "STANDARD_WEBHOOKS", "name": "G", "secret": secret, "colour": "red"},
        {"type": "NOPE", "name": "G", "secret": secret},
    ]
    for input in cases:
        answer = await gql(
            client, CREATE, world.manager_a, {"brand": str(world.brand_a.id), "input": input}
        )
        assert answer["errors"], answer
        assert secret not in json.dumps(answer)
    # The same inline in the document: neither the message nor a logged excerpt shows it.
    inline = CREATE.replace("$input: CreateConnectorInput!", "").replace(
        "input: $input", f'input: {{type: STANDARD_WEBHOOKS, secret: "{secret}"}}'
    )
    answer = await gql(client, inline, world.manager_a, {"brand": str(world.brand_a.id)})
    assert answer["errors"][0]["locations"], answer
    assert secret not in json.dumps(answer)
    assert secret not in caplog.text + "".join(capsys.readouterr())


@pytest.mark.worker
async def test_deliveries_are_listed_and_a_failed_one_replayed(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = str(world.brand_a.id)
    created = await create(client, world, **GENERIC)
    connector = created["connector"]
    for number in range(2):
        body = json.dumps(GENERIC_PAYLOAD).encode()
        headers = standard_headers(created["secret"], body, message_id=f"msg_{number}")
        response = await client.post(connector["hookPath"], content=body, headers=headers)
        assert response.status_code == 202, response.text
    await run_jobs(app)

    first = await gql_data(
        client, DELIVERIES, world.viewer_a, {"brand": brand, "id": connector["id"]}
    )
    page = first["connectorDeliveries"]
    assert (page["totalCount"], page["pageInfo"]["hasNextPage"]) == (2, True)
    [failed] = page["nodes"]
    assert (failed["status"], failed["externalId"]) == ("FAILED", "msg_0")
    assert failed["connectorId"] == connector["uuid"]
    assert "/contact/mail" in failed["error"]
    second = await gql_data(
        client,
        DELIVERIES,
        world.viewer_a,
        {"brand": brand, "id": connector["uuid"], "after": page["pageInfo"]["endCursor"]},
    )
    assert [n["externalId"] for n in second["connectorDeliveries"]["nodes"]] == ["msg_1"]
    assert second["connectorDeliveries"]["pageInfo"]["hasNextPage"] is False

    fixed = await gql_data(
        client,
        UPDATE,
        world.manager_a,
        {"brand": brand,
         "input": {"id": connector["id"], "mapping": {"fields": {"email": "/contact/email"}}}},
    )  # fmt: skip
    assert fixed["updateConnector"]["__typename"] == "ConnectorWithSecret"
    replayed = await gql_data(
        client, REPLAY, world.manager_a, {"brand": brand, "input": {"id": failed["id"]}}
    )
    assert replayed["replayConnectorDelivery"] == {
        "__typename": "ConnectorDelivery",
        "id": failed["id"],
        "uuid": failed["uuid"],
        "status": "RECEIVED",
        "error": None,
    }
    await run_jobs(app)
    processed = await gql_data(
        client,
        DELIVERIES.replace("first: 1", "first: 5"),
        world.viewer_a,
        {"brand": brand, "id": connector["id"], "status": "PROCESSED"},
    )
    [done] = processed["connectorDeliveries"]["nodes"]
    assert (done["id"], done["attempts"]) == (failed["id"], 2)
    assert done["result"]["event"]["name"] == "popup_submitted"

    again = await gql_data(
        client, REPLAY, world.manager_a, {"brand": brand, "input": {"id": failed["id"]}}
    )
    refused = again["replayConnectorDelivery"]
    assert (refused["__typename"], refused["httpStatus"]) == ("OperationError", 422)
    assert refused["fieldErrors"] == [{"field": "status"}]


async def test_another_brands_connector_is_not_found(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    created = await create(client, world, **GENERIC)
    connector_id = created["connector"]["id"]
    theirs = {"brand": str(world.brand_b.id), "id": connector_id}
    read = await gql_data(client, READ, world.owner_b, theirs)
    assert read == {"connector": None, "node": None}
    listed = await gql_data(
        client, LIST, world.owner_b, {"brand": str(world.brand_b.id), "first": 5}
    )
    assert listed["connectors"] == {
        "nodes": [],
        "pageInfo": {"hasNextPage": False, "endCursor": None},
        "totalCount": 0,
    }
    for document, input in [
        (UPDATE, {"id": connector_id, "name": "Mine now"}),
        (DELETE, {"id": connector_id}),
    ]:
        answer = await gql_data(
            client, document, world.owner_b, {"brand": str(world.brand_b.id), "input": input}
        )
        [result] = answer.values()
        assert (result["__typename"], result["httpStatus"]) == ("OperationError", 404)
    deliveries = await gql(client, DELIVERIES, world.owner_b, theirs)
    assert deliveries["data"] is None
    assert deliveries["errors"][0]["extensions"]["status"] == 404
    # Brand A itself is out of brand B's owner's reach.
    mine = await gql(client, LIST, world.owner_b, {"brand": str(world.brand_a.id), "first": 5})
    assert mine["data"] is None
    assert mine["errors"][0]["extensions"]["status"] == 404
    still = await gql_data(
        client, READ, world.viewer_a, {"brand": str(world.brand_a.id), "id": connector_id}
    )
    assert still["connector"]["name"] == "Pop-ups"


WRITES = [
    pytest.param(CREATE, lambda c: {"type": "QUALIFIO", "name": "V"}, id="create"),
    pytest.param(UPDATE, lambda c: {"id": c, "name": "V"}, id="update"),
    pytest.param(DELETE, lambda c: {"id": c}, id="delete"),
]


@pytest.mark.parametrize(("document", "input"), WRITES)
async def test_a_viewer_cannot_write_connectors(
    app: Litestar, client: httpx.AsyncClient, document: str, input: Any
) -> None:
    world = await make_world(app)
    created = await create(client, world, type="QUALIFIO", name="Q")
    answer = await gql(
        client,
        document,
        world.viewer_a,
        {"brand": str(world.brand_a.id), "input": input(created["connector"]["id"])},
    )
    assert answer["data"] is None
    assert answer["errors"][0]["extensions"]["code"] in {"forbidden", "insufficient-scope"}
