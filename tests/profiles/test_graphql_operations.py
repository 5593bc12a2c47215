"""GraphQL mutations of linked rows and profile exports: the same services as REST, with brand
isolation and scopes answered as OperationError results."""

from __future__ import annotations

from typing import Any

import httpx
from litestar import Litestar

from tests.factories import Person, World, make_world
from tests.profiles.helpers import (
    add_row,
    brand_url,
    create_profile,
    define_table,
    headers_with_scopes,
)
from tests.test_graphql import gql_data

ERROR = "... on OperationError { httpStatus detail }"
ROW = "__typename ... on LinkedRow { id key profileId values version } " + ERROR
CREATE_ROW = (
    """mutation($brand: ID!, $input: LinkedRowInput!) {
    createLinkedRow(brand: $brand, table: "coupons", input: $input) { """
    + ROW
    + " } }"
)
UPDATE_ROW = (
    """mutation($brand: ID!, $id: ID!, $values: JSON!) {
    updateLinkedRow(brand: $brand, table: "coupons", id: $id, values: $values) { """
    + ROW
    + " } }"
)
DELETE_ROW = (
    """mutation($brand: ID!, $id: ID!) {
    deleteLinkedRow(brand: $brand, table: "coupons", id: $id) {
    __typename ... on Deleted { id } """
    + ERROR
    + " } }"
)
EXPORT = (
    """mutation($brand: ID!, $input: ProfileExportInput!) {
    requestProfileExport(brand: $brand, input: $input) {
    __typename ... on ProfileExport { id format status fields } """
    + ERROR
    + " } }"
)


async def run(
    client: httpx.AsyncClient,
    query: str,
    person: Person | dict[str, str],
    variables: dict[str, Any],
) -> dict[str, Any]:
    headers = person if isinstance(person, dict) else None
    caller = None if isinstance(person, dict) else person
    data = await gql_data(client, query, caller, variables, headers)
    (result,) = data.values()
    assert isinstance(result, dict)
    return result


async def coupons_world(app: Litestar, client: httpx.AsyncClient) -> tuple[World, dict[str, Any]]:
    world = await make_world(app)
    ada = await create_profile(client, world, email="ada@example.com")
    await define_table(client, world, key="coupons", columns=[{"key": "points", "type": "number"}])
    return world, ada


async def test_linked_rows_are_created_updated_and_deleted_with_their_history(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world, ada = await coupons_world(app, client)
    brand = str(world.brand_a.id)
    created = await run(
        client,
        CREATE_ROW,
        world.manager_a,
        {
            "brand": brand,
            "input": {
                "key": "G1",
                "profileKey": {"kind": "email", "value": "ADA@example.com"},
                "values": {"points": 5},
            },
        },
    )
    assert (created["__typename"], created["key"], created["profileId"]) == (
        "LinkedRow",
        "G1",
        ada["id"],
    )
    updated = await run(
        client,
        UPDATE_ROW,
        world.manager_a,
        {"brand": brand, "id": created["id"], "values": {"points": 9}},
    )
    assert (updated["values"], updated["version"]) == ({"points": 9}, 2)
    bad = await run(
        client,
        UPDATE_ROW,
        world.manager_a,
        {"brand": brand, "id": created["id"], "values": {"points": "many"}},
    )
    assert (bad["__typename"], bad["httpStatus"]) == ("OperationError", 422)
    deleted = await run(client, DELETE_ROW, world.manager_a, {"brand": brand, "id": created["id"]})
    assert deleted == {"__typename": "Deleted", "id": created["id"]}
    history = await client.get(
        brand_url(world, f"/linked-tables/coupons/rows/{created['id']}/history"),
        headers=world.viewer_a.headers,
    )
    assert [v["operation"] for v in history.json()["items"]] == ["created", "updated", "deleted"]


async def test_linked_row_mutations_on_another_brand_or_without_scope_are_refused(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world, ada = await coupons_world(app, client)
    row = await add_row(client, world, "coupons", profileId=ada["id"], values={"points": 1})
    brand = str(world.brand_a.id)
    create = {"brand": brand, "input": {"profileId": ada["id"], "values": {"points": 2}}}
    outsider = await run(client, CREATE_ROW, world.owner_b, create)
    assert (outsider["__typename"], outsider["httpStatus"]) == ("OperationError", 404)
    for query, variables in (
        (UPDATE_ROW, {"brand": brand, "id": row["id"], "values": {"points": 3}}),
        (DELETE_ROW, {"brand": brand, "id": row["id"]}),
    ):
        assert (await run(client, query, world.owner_b, variables))["httpStatus"] == 404
        assert (await run(client, query, world.viewer_a, variables))["httpStatus"] == 403
    read_only = await headers_with_scopes(app, world.manager_a, "profiles:read")
    assert (await run(client, CREATE_ROW, read_only, create))["httpStatus"] == 403
    # Refused calls changed nothing.
    rows = await client.get(
        brand_url(world, "/linked-tables/coupons/rows"), headers=world.viewer_a.headers
    )
    assert [(r["id"], r["values"]) for r in rows.json()["items"]] == [(row["id"], {"points": 1})]


async def test_request_profile_export_mutation_queues_an_export(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = str(world.brand_a.id)
    variables = {"brand": brand, "input": {"format": "NDJSON", "fields": ["email"]}}
    export = await run(client, EXPORT, world.manager_a, variables)
    assert (export["__typename"], export["status"], export["fields"]) == (
        "ProfileExport",
        "QUEUED",
        ["email"],
    )
    listed = await client.get(brand_url(world, "/exports"), headers=world.viewer_a.headers)
    assert [e["id"] for e in listed.json()["items"]] == [export["id"]]
    bad = {"brand": brand, "input": {"format": "CSV", "fields": ["nope"]}}
    assert (await run(client, EXPORT, world.manager_a, bad))["httpStatus"] == 422
    assert (await run(client, EXPORT, world.viewer_a, variables))["httpStatus"] == 403
    assert (await run(client, EXPORT, world.owner_b, variables))["httpStatus"] == 404
