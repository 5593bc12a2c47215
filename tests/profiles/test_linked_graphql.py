"""GraphQL of linked tables and profile exports: every query and mutation against the REST
answers, brand isolation, bad input as an `OperationError` naming its field, Relay pagination and
access (a viewer cannot write)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from litestar import Litestar

from tests.factories import World, make_world
from tests.profiles.helpers import (
    add_row,
    brand_url,
    create_profile,
    define_table,
    request_export,
)
from tests.test_graphql import gql, gql_data

ERROR = "... on OperationError { httpStatus detail fieldErrors { field pointer message } }"
TABLE = "id uuid key label columns { key label type required default options }"
ROW = "id uuid table key profileId values version createdAt updatedAt"
EXPORT = (
    "id uuid format status filter fields rowCount byteCount error createdAt startedAt "
    "finishedAt expiresAt expiredReason totalRows"
)
PAGE = "pageInfo { hasNextPage hasPreviousPage endCursor } totalCount"

MUTATIONS = {
    "createLinkedTable": ("CreateLinkedTableInput", f"... on LinkedTable {{ {TABLE} }}"),
    "updateLinkedTable": ("UpdateLinkedTableInput", f"... on LinkedTable {{ {TABLE} }}"),
    "deleteLinkedTable": ("LinkedTableKeyInput", "... on Deleted { id }"),
    "createLinkedRow": ("CreateLinkedRowInput", f"... on LinkedRow {{ {ROW} }}"),
    "updateLinkedRow": ("UpdateLinkedRowInput", f"... on LinkedRow {{ {ROW} }}"),
    "deleteLinkedRow": ("LinkedRowIdInput", "... on Deleted { id }"),
    "createProfileExport": ("CreateProfileExportInput", f"... on ProfileExport {{ {EXPORT} }}"),
}


def mutation(name: str) -> str:
    input_type, selection = MUTATIONS[name]
    return (
        f"mutation($brand: ID!, $input: {input_type}!) {{ {name}(brand: $brand, input: $input) "
        f"{{ __typename {selection} {ERROR} }} }}"
    )


@dataclass
class Coupons:
    """Brand A with a table `coupons` (points, colour), Ada, and one row of hers."""

    world: World
    brand: str
    ada: dict[str, Any]
    table: dict[str, Any]  # REST
    row: dict[str, Any]  # REST


async def coupons(app: Litestar, client: httpx.AsyncClient) -> Coupons:
    world = await make_world(app)
    ada = await create_profile(client, world, email="ada@example.com")
    columns = [
        {"key": "points", "type": "number", "default": 0},
        {"key": "colour", "type": "enum", "options": ["red", "blue"]},
    ]
    table = await define_table(client, world, key="coupons", columns=columns)
    row = await add_row(client, world, "coupons", profileId=ada["id"], key="C1", values={})
    return Coupons(world, str(world.brand_a.id), ada, table, row)


async def rest(client: httpx.AsyncClient, world: World, path: str) -> dict[str, Any]:
    response = await client.get(brand_url(world, path), headers=world.viewer_a.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def plain(key: str, value: Any) -> Any:
    """A GraphQL value as REST writes it: enums in lower case, instants as instants."""
    if key in {"format", "status", "operation"}:
        return value.lower()
    if key == "columns":
        return [{**c, "type": c["type"].lower()} for c in value]
    if key.endswith("At") and isinstance(value, str):
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value


def same_as_rest(node: dict[str, Any], body: dict[str, Any]) -> None:
    """A GraphQL node shows the REST body (its `uuid` the REST id, its `id` global)."""
    if "uuid" in node:
        assert node["uuid"] == body["id"]
        assert node["id"] != body["id"]
    checked = 0
    for key, value in body.items():
        if key == "id":
            continue
        assert plain(key, node[key]) == plain(key, value), key
        checked += 1
    assert checked == len(body) - ("id" in body)


async def test_linked_table_queries_show_the_rest_bodies(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    c = await coupons(app, client)
    data = await gql_data(
        client,
        f"""query($brand: ID!, $rowId: ID!, $profileId: ID!) {{
          linkedTables(brand: $brand) {{ nodes {{ {TABLE} createdAt updatedAt }} {PAGE} }}
          linkedTable(brand: $brand, key: "coupons") {{ {TABLE} createdAt updatedAt }}
          linkedRows(brand: $brand, table: "coupons") {{ nodes {{ {ROW} }} {PAGE} }}
          mine: linkedRows(brand: $brand, table: "coupons", profileId: $profileId) {{
            nodes {{ uuid }} totalCount }}
          linkedRow(brand: $brand, table: "coupons", id: $rowId) {{ {ROW} }}
          linkedRowHistory(brand: $brand, table: "coupons", id: $rowId) {{
            nodes {{ version operation profileId values changedAt }} }}
          profileLinkedRows(brand: $brand, profileId: $profileId, table: "coupons") {{
            nodes {{ {ROW} }} }}
        }}""",
        c.world.viewer_a,
        {"brand": c.brand, "rowId": c.row["id"], "profileId": c.ada["id"]},
    )
    same_as_rest(data["linkedTable"], c.table)
    same_as_rest(data["linkedTables"]["nodes"][0], c.table)
    assert data["linkedTables"]["totalCount"] == 1
    rest_row = await rest(client, c.world, f"/linked-tables/coupons/rows/{c.row['id']}")
    assert rest_row["values"] == {"points": 0}  # the column's default
    for node in (
        data["linkedRow"],
        data["linkedRows"]["nodes"][0],
        data["profileLinkedRows"]["nodes"][0],
    ):
        same_as_rest(node, rest_row)
    assert data["mine"] == {"nodes": [{"uuid": c.row["id"]}], "totalCount": 1}
    history = await rest(client, c.world, f"/linked-tables/coupons/rows/{c.row['id']}/history")
    assert len(data["linkedRowHistory"]["nodes"]) == len(history["items"]) == 1
    for node, body in zip(data["linkedRowHistory"]["nodes"], history["items"], strict=True):
        same_as_rest(node, body)

    # Global ids name the same objects; node(id:) fetches them again.
    again = await gql_data(
        client,
        """query($brand: ID!, $table: ID!, $row: ID!) {
          t: node(id: $table, brand: $brand) { __typename ... on LinkedTable { key } }
          r: node(id: $row, brand: $brand) { __typename ... on LinkedRow { table key } }
          byGlobal: linkedRow(brand: $brand, table: "coupons", id: $row) { uuid } }""",
        c.world.viewer_a,
        {"brand": c.brand, "table": data["linkedTable"]["id"], "row": data["linkedRow"]["id"]},
    )
    assert again == {
        "t": {"__typename": "LinkedTable", "key": "coupons"},
        "r": {"__typename": "LinkedRow", "table": "coupons", "key": "C1"},
        "byGlobal": {"uuid": c.row["id"]},
    }


async def test_linked_table_mutations_write_what_rest_reads(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    c = await coupons(app, client)
    manager = c.world.manager_a
    profile_node = await gql_data(
        client, "query($b: ID!, $id: ID!) { profile(brand: $b, id: $id) { id } }", manager,
        {"b": c.brand, "id": c.ada["id"]},
    )  # fmt: skip
    steps: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
        (
            "createLinkedTable",
            {"key": "loyalty", "label": "Loyalty", "columns": [
                {"key": "tier", "label": "Tier", "type": "ENUM", "options": ["gold"]}]},
            {"__typename": "LinkedTable", "key": "loyalty", "label": "Loyalty"},
        ),
        (
            "updateLinkedTable",
            {"key": "loyalty", "label": "Loyalty points"},
            {"__typename": "LinkedTable", "key": "loyalty", "label": "Loyalty points"},
        ),
        (
            "createLinkedRow",
            {"table": "loyalty", "key": "L1", "values": {"tier": "gold"},
             "profileKey": {"kind": "email", "value": "ADA@example.com"}},
            {"__typename": "LinkedRow", "table": "loyalty", "key": "L1",
             "profileId": c.ada["id"], "values": {"tier": "gold"}, "version": 1},
        ),
        (
            "createLinkedRow",  # the profile by its global id
            {"table": "coupons", "key": "C2", "profileId": profile_node["profile"]["id"],
             "values": {"points": 5}},
            {"__typename": "LinkedRow", "key": "C2", "profileId": c.ada["id"],
             "values": {"points": 5}},
        ),
        (
            "updateLinkedRow",
            {"table": "coupons", "id": c.row["id"], "values": {"points": 9, "colour": "red"}},
            {"__typename": "LinkedRow", "values": {"points": 9, "colour": "red"}, "version": 2},
        ),
        (
            "deleteLinkedRow",
            {"table": "coupons", "id": c.row["id"]},
            {"__typename": "Deleted", "id": c.row["id"]},
        ),
        ("createProfileExport", {"format": "NDJSON", "fields": ["email"],
                                 "filter": {"email": "ada@example.com"}},
         {"__typename": "ProfileExport", "format": "NDJSON", "status": "QUEUED",
          "fields": ["email"], "rowCount": 0, "filter": {
              "email": "ada@example.com", "phone": None, "externalId": None, "country": None,
              "preferredStore": None, "updatedSince": None}}),
        ("deleteLinkedTable", {"key": "loyalty"}, {"__typename": "Deleted"}),
    ]  # fmt: skip
    ran = 0
    for name, given, expected in steps:
        data = await gql_data(client, mutation(name), manager, {"brand": c.brand, "input": given})
        result = data[name]
        assert {k: result.get(k) for k in expected} == expected, (name, result)
        ran += 1
    assert ran == len(steps)

    # REST reads what GraphQL wrote.
    tables = await rest(client, c.world, "/linked-tables")
    assert [t["key"] for t in tables["items"]] == ["coupons"]
    rows = await rest(client, c.world, "/linked-tables/coupons/rows")
    assert [(r["key"], r["values"]) for r in rows["items"]] == [("C2", {"points": 5})]
    history = await rest(client, c.world, f"/linked-tables/coupons/rows/{c.row['id']}/history")
    assert [v["operation"] for v in history["items"]] == ["created", "updated", "deleted"]
    exports = await rest(client, c.world, "/exports")
    assert [e["fields"] for e in exports["items"]] == [["email"]]


async def test_profile_export_queries_show_the_rest_bodies(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = str(world.brand_a.id)
    made = await request_export(client, world, format="csv", fields=["email", "firstName"])
    data = await gql_data(
        client,
        f"""query($brand: ID!, $id: ID!) {{
          profileExport(brand: $brand, id: $id) {{ {EXPORT} }}
          profileExports(brand: $brand) {{ nodes {{ {EXPORT} }} {PAGE} }} }}""",
        world.viewer_a,
        {"brand": brand, "id": made["id"]},
    )
    body = await rest(client, world, f"/exports/{made['id']}")
    same_as_rest(data["profileExport"], body)
    same_as_rest(data["profileExports"]["nodes"][0], body)
    assert data["profileExports"]["totalCount"] == 1
    node = await gql_data(
        client,
        "query($b: ID!, $id: ID!) { node(id: $id, brand: $b) { ... on ProfileExport { uuid } } }",
        world.viewer_a,
        {"b": brand, "id": data["profileExport"]["id"]},
    )
    assert node == {"node": {"uuid": made["id"]}}


# Reads of brand A's objects through brand B: null where one object is asked, not found where
# the table itself is named.
ISOLATED_READS = [
    ('linkedTable(brand: $brand, key: "coupons") { key }', None),
    ('linkedRow(brand: $brand, table: "coupons", id: $row) { key }', None),
    ("profileExport(brand: $brand, id: $export) { uuid }", None),
    ("node(id: $global, brand: $brand) { id }", None),
    ("linkedTables(brand: $brand) { nodes { key } }", {"nodes": []}),
    ("profileExports(brand: $brand) { nodes { uuid } }", {"nodes": []}),
    ('linkedRows(brand: $brand, table: "coupons") { nodes { key } }', 404),
    ('linkedRowHistory(brand: $brand, table: "coupons", id: $row) { nodes { version } }', 404),
    ('profileLinkedRows(brand: $brand, profileId: $profile, table: "coupons") { nodes { key } }',
     404),
]  # fmt: skip


@pytest.mark.parametrize(("field", "expected"), ISOLATED_READS)
async def test_another_brand_sees_none_of_them(
    app: Litestar, client: httpx.AsyncClient, field: str, expected: Any
) -> None:
    c = await coupons(app, client)
    export = await request_export(client, c.world, format="csv")
    glob = await gql_data(
        client,
        'query($b: ID!) { linkedTable(brand: $b, key: "coupons") { id } }',
        c.world.viewer_a,
        {"b": c.brand},
    )
    variables = {
        "brand": str(c.world.brand_b.id),
        "row": c.row["id"],
        "export": export["id"],
        "global": glob["linkedTable"]["id"],
        "profile": c.ada["id"],
    }
    declared = ", ".join(
        f"${name}: ID!" for name in variables if f"${name}" in field or name == "brand"
    )
    query = f"query({declared}) {{ answer: {field} }}"
    used = {k: v for k, v in variables.items() if f"${k}" in declared}
    body = await gql(client, query, c.world.owner_b, used)
    if expected == 404:
        assert body["errors"][0]["extensions"]["status"] == 404, body
    else:
        assert body.get("errors") is None, body
        assert body["data"]["answer"] == expected
    # Brand A named by B's owner: out of reach.
    refused = await gql(client, query, c.world.owner_b, {**used, "brand": c.brand})
    assert refused["data"] is None or refused["data"].get("answer") is None
    assert refused["errors"][0]["extensions"]["status"] == 404


@pytest.mark.parametrize(
    ("name", "given"),
    [
        ("updateLinkedTable", {"key": "coupons", "label": "Nope"}),
        ("deleteLinkedTable", {"key": "coupons"}),
        ("createLinkedRow", {"table": "coupons", "values": {}, "profileKey":
                             {"kind": "email", "value": "ada@example.com"}}),
        ("updateLinkedRow", {"table": "coupons", "id": "ROW", "values": {"points": 1}}),
        ("deleteLinkedRow", {"table": "coupons", "id": "ROW"}),
    ],
)  # fmt: skip
async def test_another_brand_cannot_change_them(
    app: Litestar, client: httpx.AsyncClient, name: str, given: dict[str, Any]
) -> None:
    c = await coupons(app, client)
    given = {k: (c.row["id"] if v == "ROW" else v) for k, v in given.items()}
    own = await gql_data(
        client, mutation(name), c.world.owner_b, {"brand": str(c.world.brand_b.id), "input": given}
    )
    assert (own[name]["__typename"], own[name]["httpStatus"]) == ("OperationError", 404)
    body = await gql(client, mutation(name), c.world.owner_b, {"brand": c.brand, "input": given})
    assert body["errors"][0]["extensions"]["status"] == 404
    rows = await rest(client, c.world, "/linked-tables/coupons/rows")
    assert [(r["id"], r["version"]) for r in rows["items"]] == [(c.row["id"], 1)]
    assert (await rest(client, c.world, "/linked-tables/coupons"))["label"] == "Coupons"


BAD_INPUTS = [
    ("createLinkedTable", {"key": "Not A Key", "label": "x"}, {"key"}),
    ("createLinkedTable", {"key": "ok", "label": "x", "columns": [
        {"key": "c", "label": "C", "type": "ENUM"}]}, {"columns[0].options"}),
    ("createLinkedTable", {"key": "coupons", "label": "again"}, {"key"}),
    ("updateLinkedTable", {"key": "coupons", "columns": []}, {"columns"}),
    ("createLinkedRow", {"table": "coupons", "values": {}}, {"profileId", "profileKey"}),
    ("createLinkedRow", {"table": "coupons", "values": {"points": "many"},
                         "profileKey": {"kind": "email", "value": "ada@example.com"}},
     {"values.points"}),
    ("createLinkedRow", {"table": "coupons", "values": {}, "key": "C1",
                         "profileKey": {"kind": "email", "value": "ada@example.com"}}, {"key"}),
    ("updateLinkedRow", {"table": "coupons", "id": "ROW", "values": {"colour": "green"}},
     {"values.colour"}),
    ("createProfileExport", {"format": "CSV", "fields": ["nope"]}, {"fields[0]"}),
    ("createProfileExport", {"format": "CSV", "fields": []}, {"fields"}),
]  # fmt: skip


@pytest.mark.parametrize(("name", "given", "fields"), BAD_INPUTS)
async def test_bad_input_is_an_operation_error_naming_the_field(
    app: Litestar, client: httpx.AsyncClient, name: str, given: dict[str, Any], fields: set[str]
) -> None:
    c = await coupons(app, client)
    given = {k: (c.row["id"] if v == "ROW" else v) for k, v in given.items()}
    data = await gql_data(
        client, mutation(name), c.world.manager_a, {"brand": c.brand, "input": given}
    )
    error = data[name]
    assert error["__typename"] == "OperationError", error
    assert error["httpStatus"] in {409, 422}
    assert {e["field"] for e in error["fieldErrors"]} == fields


@pytest.mark.parametrize("name", list(MUTATIONS))
async def test_a_viewer_cannot_write(app: Litestar, client: httpx.AsyncClient, name: str) -> None:
    c = await coupons(app, client)
    given = {
        "createLinkedTable": {"key": "x", "label": "X"},
        "updateLinkedTable": {"key": "coupons", "label": "X"},
        "deleteLinkedTable": {"key": "coupons"},
        "createLinkedRow": {"table": "coupons", "values": {}, "profileId": c.ada["id"]},
        "updateLinkedRow": {"table": "coupons", "id": c.row["id"], "values": {}},
        "deleteLinkedRow": {"table": "coupons", "id": c.row["id"]},
        "createProfileExport": {"format": "CSV"},
    }[name]
    body = await gql(client, mutation(name), c.world.viewer_a, {"brand": c.brand, "input": given})
    assert body["data"] is None
    extensions = body["errors"][0]["extensions"]
    assert extensions["status"] == 403
    assert extensions["code"] in {"forbidden", "insufficient-scope"}


async def test_lists_are_relay_connections(app: Litestar, client: httpx.AsyncClient) -> None:
    c = await coupons(app, client)
    await define_table(client, c.world, key="loyalty")
    await add_row(client, c.world, "coupons", profileId=c.ada["id"], values={"points": 2})
    await client.patch(
        brand_url(c.world, f"/linked-tables/coupons/rows/{c.row['id']}"),
        json={"values": {"points": 1}},
        headers=c.world.manager_a.headers,
    )
    for _ in range(2):
        await request_export(client, c.world, format="csv")
    lists = {
        "linkedTables": ("", "key"),
        "linkedRows": ('table: "coupons"', "version"),
        "profileLinkedRows": ('table: "coupons", profileId: $profile', "version"),
        "linkedRowHistory": ('table: "coupons", id: $row', "version"),
        "profileExports": ("", "status"),
    }
    walked = 0
    for name, (arguments, leaf) in lists.items():
        args = f"brand: $brand, first: 1, after: $after{', ' + arguments if arguments else ''}"
        declared = "".join(f", ${v}: ID!" for v in ("row", "profile") if f"${v}" in arguments)
        query = f"""query($brand: ID!, $after: String{declared}) {{
          {name}({args}) {{ edges {{ cursor node {{ {leaf} }} }}
            pageInfo {{ hasNextPage hasPreviousPage endCursor }} }} }}"""
        variables = {"brand": c.brand}
        variables |= {k: v for k, v in (("row", c.row["id"]), ("profile", c.ada["id"]))
                      if f"${k}" in arguments}  # fmt: skip
        first = (await gql_data(client, query, c.world.viewer_a, {**variables, "after": None}))[
            name
        ]
        assert len(first["edges"]) == 1
        assert first["pageInfo"]["hasNextPage"] is True
        assert first["pageInfo"]["hasPreviousPage"] is False
        assert first["pageInfo"]["endCursor"] == first["edges"][0]["cursor"]
        after = first["pageInfo"]["endCursor"]
        second = (await gql_data(client, query, c.world.viewer_a, {**variables, "after": after}))[
            name
        ]
        assert len(second["edges"]) == 1
        assert second["edges"][0]["cursor"] != after
        assert second["pageInfo"] == {
            "hasNextPage": False,
            "hasPreviousPage": True,
            "endCursor": second["edges"][0]["cursor"],
        }
        walked += 1
    assert walked == len(lists)
