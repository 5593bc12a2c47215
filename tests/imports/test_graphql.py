"""GraphQL of imports: profiles, orders and linked rows imported from inline content (the options
REST takes as parameters and headers are input fields; the same checks, size cap and
idempotency), the import followed by `import` and `node(id:)`, its rejected rows as a
connection; bad input is an `OperationError` naming the field; other brands see nothing; a
viewer cannot import."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from graphql import GraphQLObjectType
from graphql import build_schema as parse_sdl
from litestar import Litestar

from backend.openapi import graphql_document, published_settings
from tests.factories import World, make_world, run_jobs
from tests.imports.helpers import ndjson, status
from tests.profiles.helpers import create_profile, define_table
from tests.test_graphql import gql, gql_data

pytestmark = pytest.mark.worker

IMPORT_FIELDS = """id uuid kind linkedTable format encoding delimiter mode status rowsProcessed
  created updated rejected"""
ERROR = "... on OperationError { httpStatus detail fieldErrors { field pointer message } }"


def mutation(name: str, input_type: str) -> str:
    return f"""mutation($brand: ID!, $input: {input_type}!) {{
      {name}(brand: $brand, input: $input) {{
        __typename ... on Import {{ {IMPORT_FIELDS} }} {ERROR} }} }}"""


IMPORT_PROFILES = mutation("importProfiles", "ImportProfilesInput")
IMPORT_ORDERS = mutation("importOrders", "ImportOrdersInput")
IMPORT_LINKED = mutation("importLinkedRows", "ImportLinkedRowsInput")
FOLLOW = f"""query($brand: ID!, $id: ID!, $first: Int, $after: String) {{
  import(brand: $brand, id: $id) {{ {IMPORT_FIELDS} }}
  importRejections(brand: $brand, id: $id, first: $first, after: $after) {{
    edges {{ cursor node {{ line reason raw }} }}
    pageInfo {{ hasNextPage hasPreviousPage endCursor }}
    totalCount }}
  node(id: $id, brand: $brand) {{ __typename ... on Import {{ status }} }} }}"""


def brand(world: World) -> str:
    return str(world.brand_a.id)


async def start(
    client: httpx.AsyncClient, world: World, query: str, input: dict[str, Any]
) -> dict[str, Any]:
    data = await gql_data(client, query, world.manager_a, {"brand": brand(world), "input": input})
    [answer] = data.values()
    result: dict[str, Any] = answer
    return result


async def test_profiles_imported_from_inline_content(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    content = "Mail;Tier\na@example.com;gold\nnot-an-email;silver\nb@example.com;\nalso bad;x\n"
    queued = await start(
        client,
        world,
        IMPORT_PROFILES,
        {"content": content, "format": "CSV", "mapping": {"Mail": "email", "Tier": None},
         "delimiter": "SEMICOLON"},
    )  # fmt: skip
    assert (queued["__typename"], queued["status"], queued["kind"]) == (
        "Import",
        "QUEUED",
        "PROFILES",
    )
    await run_jobs(app)

    variables: dict[str, Any] = {"brand": brand(world), "id": queued["id"], "first": 1}
    data = await gql_data(client, FOLLOW, world.viewer_a, variables)
    done = data["import"]
    assert (done["status"], done["delimiter"], done["encoding"]) == ("SUCCEEDED", ";", "utf-8")
    assert (done["rowsProcessed"], done["created"], done["rejected"]) == (4, 2, 2)
    assert done == {**done, "id": queued["id"], "uuid": queued["uuid"]}
    assert data["node"] == {"__typename": "Import", "status": "SUCCEEDED"}
    # The same import as REST shows it.
    rest = await status(client, world, queued["uuid"])
    assert (rest["status"], rest["created"], rest["rejected"]) == ("succeeded", 2, 2)

    lines = []
    pages = 0
    while True:
        page = data["importRejections"]
        assert page["totalCount"] == 2
        assert page["pageInfo"]["hasPreviousPage"] is (pages > 0)
        lines += [edge["node"]["line"] for edge in page["edges"]]
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        variables["after"] = page["pageInfo"]["endCursor"]
        data = await gql_data(client, FOLLOW, world.viewer_a, variables)
    assert (lines, pages) == ([3, 5], 2)


async def test_orders_and_linked_rows_imported_from_inline_content(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    profile = await create_profile(client, world, email="a@example.com")
    await define_table(client, world, key="coupons", columns=[{"key": "points", "type": "number"}])
    cases = [
        (
            IMPORT_ORDERS,
            {"format": "NDJSON", "content": ndjson(
                {"orderId": "W-1", "occurredAt": "2026-11-01T10:00:00Z", "amount": "49.90",
                 "currency": "EUR", "email": "a@example.com"})},
            ("ORDERS", None),
        ),
        (
            IMPORT_LINKED,
            {"table": "coupons", "format": "CSV",
             "content": f"key,profileId,points\nC1,{profile['id']},12\n"},
            ("LINKED", "coupons"),
        ),
    ]  # fmt: skip
    started = []
    for query, given, (kind, table) in cases:
        answer = await start(client, world, query, given)
        assert (answer["kind"], answer["linkedTable"]) == (kind, table), answer
        started.append(answer["id"])
    assert len(started) == len(cases)
    await run_jobs(app)
    for import_id in started:
        data = await gql_data(
            client, FOLLOW, world.viewer_a, {"brand": brand(world), "id": import_id}
        )
        assert (data["import"]["status"], data["import"]["created"]) == ("SUCCEEDED", 1), data
        assert data["importRejections"]["edges"] == []


async def test_a_retried_import_with_its_idempotency_key_answers_the_first(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    given = {"content": "email\na@example.com\n", "format": "CSV", "idempotencyKey": "k-1"}
    first = await start(client, world, IMPORT_PROFILES, given)
    again = await start(client, world, IMPORT_PROFILES, given)
    assert again["id"] == first["id"]
    other = await start(client, world, IMPORT_PROFILES, {**given, "content": "email\nb@x.io\n"})
    assert (other["__typename"], other["httpStatus"]) == ("OperationError", 409)


@pytest.mark.parametrize(
    ("query", "given", "status", "field"),
    [
        (IMPORT_PROFILES, {"content": "email\na@b.co\n", "format": "CSV", "idempotencyKey": ""},
         422, "idempotencyKey"),
        (IMPORT_PROFILES, {"content": "email\na@b.co\n", "format": "CSV",
                           "mapping": {"email": 5}}, 422, "mapping"),
        (IMPORT_PROFILES, {"content": "Mail\na@b.co\n", "format": "CSV",
                           "mapping": {"Mail": "mail"}}, 422, "mapping.Mail"),
        (IMPORT_PROFILES, {"content": "email\n€@b.co\n", "format": "CSV",
                           "encoding": "LATIN1"}, 422, "content"),
        (IMPORT_PROFILES, {"content": "email,shoeSize\na@b.co,42\n", "format": "CSV"},
         422, "shoeSize"),
        (IMPORT_LINKED, {"table": "nope", "content": "key\nx\n", "format": "CSV"}, 404, None),
    ],
)  # fmt: skip
async def test_bad_input_is_an_operation_error(
    app: Litestar,
    client: httpx.AsyncClient,
    query: str,
    given: dict[str, Any],
    status: int,
    field: str | None,
) -> None:
    world = await make_world(app)
    error = await start(client, world, query, given)
    assert (error["__typename"], error["httpStatus"]) == ("OperationError", status), error
    if field is not None:
        assert field in [e["field"] for e in error["fieldErrors"]], error


async def test_content_above_the_import_limit_is_refused(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    app.state.settings = app.state.settings.replace(import_max_bytes=64)
    content = "email\n" + "someone@example.com\n" * 10
    error = await start(client, world, IMPORT_PROFILES, {"content": content, "format": "CSV"})
    assert (error["__typename"], error["httpStatus"]) == ("OperationError", 413)
    small = await start(client, world, IMPORT_PROFILES, {"content": "email\na@b.co\n",
                                                         "format": "CSV"})  # fmt: skip
    assert small["__typename"] == "Import"


async def test_imports_stay_in_their_brand_and_viewers_cannot_import(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    queued = await start(
        client, world, IMPORT_PROFILES, {"content": "email\na@b.co\n", "format": "CSV"}
    )
    foreign = await gql(
        client, FOLLOW, world.owner_b, {"brand": str(world.brand_b.id), "id": queued["id"]}
    )
    assert foreign["data"] is None  # the rejections of an import brand B does not have
    assert foreign["errors"][0]["extensions"]["code"] == "not-found"
    alone = await gql_data(
        client,
        "query($brand: ID!, $id: ID!) { import(brand: $brand, id: $id) { id } "
        "node(id: $id, brand: $brand) { id } }",
        world.owner_b,
        {"brand": str(world.brand_b.id), "id": queued["id"]},
    )
    assert alone == {"import": None, "node": None}
    refused = await gql(
        client,
        IMPORT_PROFILES,
        world.viewer_a,
        {"brand": brand(world), "input": {"content": "email\na@b.co\n", "format": "CSV"}},
    )
    assert refused["data"] is None
    assert refused["errors"][0]["extensions"]["code"] in {"forbidden", "insufficient-scope"}


def test_byte_sizes_are_floats_where_a_file_may_pass_32_bits() -> None:
    """GraphQL's Int is 32-bit and an import may be 2 GiB: its size is a Float (as an export's)."""
    sdl = parse_sdl(graphql_document(published_settings()))
    sizes = {("Import", "sizeBytes"), ("ProfileExport", "byteCount")}
    for type_name, field in sizes:
        found = sdl.get_type(type_name)
        assert isinstance(found, GraphQLObjectType)
        assert str(found.fields[field].type) == "Float!", (type_name, field)
