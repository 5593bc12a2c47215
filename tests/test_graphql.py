"""GraphQL at /graphql: queries, Levier-Brand header, limits, mutations, dataloaders, GraphiQL."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

import httpx
import pytest
from litestar import Litestar

from backend.app import create_app
from backend.config import Environment, Settings
from tests.factories import (
    Person,
    World,
    make_agency,
    make_brand,
    make_person,
    make_world,
    problem,
    serving,
    session_of,
    statements_of,
)

UNKNOWN_ID = "00000000-0000-7000-8000-000000000000"

RESULT_FIELDS = """
    __typename
    ... on OperationError { problemType title httpStatus detail }
"""


async def post_graphql(
    client: httpx.AsyncClient,
    query: str,
    person: Person | None = None,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    all_headers = {**(person.headers if person else {}), **(headers or {})}
    return await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=all_headers
    )


async def gql(
    client: httpx.AsyncClient,
    query: str,
    person: Person | None = None,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The JSON answer of a GraphQL request that was executed (HTTP 200)."""
    response = await post_graphql(client, query, person, variables, headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def gql_data(
    client: httpx.AsyncClient,
    query: str,
    person: Person | None = None,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The data of a GraphQL answer that must have no errors."""
    body = await gql(client, query, person, variables, headers)
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


async def rest_brand_names(client: httpx.AsyncClient, agency_id: UUID, owner: Person) -> list[str]:
    response = await client.get(f"/v1/agencies/{agency_id}/brands", headers=owner.headers)
    assert response.status_code == 200, response.text
    return [b["name"] for b in response.json()["items"]]


async def rest_settings(client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    response = await client.get(
        f"/v1/brands/{world.brand_a.id}/settings", headers=world.owner_a.headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


AGENCY_NAMES = "{ agencies { nodes { name } } }"
NESTING = ("brands", "nodes", "agency")


def nested_brands_query(levels: int) -> str:
    """``brands { nodes { agency { brands { ... { __typename } } } } }`` with ``levels``
    object fields."""
    fields = [NESTING[i % 3] for i in range(levels)]
    return "{ " + " ".join(f"{f} {{" for f in fields) + " __typename " + "} " * levels + "}"


# Queries ---------------------------------------------------------------------------------------


async def test_viewer_query_returns_caller_agencies_and_brands(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await make_brand(app, world.agency_a.id, "Brand A2")
    data = await gql_data(
        client,
        "{ viewer { id email agencies { nodes { name } } brands { nodes { name } } } }",
        world.viewer_a,
    )
    assert data["viewer"] == {
        "id": str(world.viewer_a.id),
        "email": world.viewer_a.email,
        "agencies": {"nodes": [{"name": "Agency A"}]},
        "brands": {"nodes": [{"name": "Brand A"}]},
    }


VIEWER_NAMES = "{ viewer { agencies { nodes { name } } brands { nodes { name } } } }"


async def test_viewer_query_of_agency_member_has_no_brands(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    data = await gql_data(client, VIEWER_NAMES, world.member_a)
    assert data["viewer"] == {
        "agencies": {"nodes": [{"name": "Agency A"}]},
        "brands": {"nodes": []},
    }


async def test_viewer_query_of_other_agency_owner_sees_only_their_agency(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    data = await gql_data(client, VIEWER_NAMES, world.owner_b)
    assert data["viewer"] == {
        "agencies": {"nodes": [{"name": "Agency B"}]},
        "brands": {"nodes": [{"name": "Brand B"}]},
    }


async def test_sibling_root_list_fields_resolve_in_one_request(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    data = await gql_data(
        client, "{ agencies { nodes { name } } brands { nodes { name } } }", world.owner_b
    )
    assert data == {
        "agencies": {"nodes": [{"name": "Agency B"}]},
        "brands": {"nodes": [{"name": "Brand B"}]},
    }


async def test_many_sibling_fields_reading_the_database_resolve_together(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await make_brand(app, world.agency_a.id, "Brand A2")
    query = """query($id: ID!) {
      a: brands { nodes { name agency { name } } }
      b: agencies { nodes { name brands { nodes { name agency { name } } } } }
      c: viewer { agencies { nodes { name } } brands { nodes { name } } }
      d: brand(id: $id) { name agency { name } }
    }"""
    data = await gql_data(client, query, world.admin_a, {"id": str(world.brand_a.id)})
    assert [b["name"] for b in data["a"]["nodes"]] == ["Brand A", "Brand A2"]
    assert {b["agency"]["name"] for b in data["a"]["nodes"]} == {"Agency A"}
    assert data["b"]["nodes"] == [
        {
            "name": "Agency A",
            "brands": {
                "nodes": [
                    {"name": "Brand A", "agency": {"name": "Agency A"}},
                    {"name": "Brand A2", "agency": {"name": "Agency A"}},
                ]
            },
        }
    ]
    assert data["c"]["brands"]["nodes"] == [{"name": "Brand A"}, {"name": "Brand A2"}]
    assert data["d"] == {"name": "Brand A", "agency": {"name": "Agency A"}}


async def test_brands_query_nests_agency_and_settings(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    data = await gql_data(
        client,
        "{ brands { nodes { uuid name status agency { uuid name } "
        "settings { brandId senderName quietHoursStart } } } }",
        world.owner_a,
    )
    assert data["brands"]["nodes"] == [
        {
            "uuid": str(world.brand_a.id),
            "name": "Brand A",
            "status": "ACTIVE",
            "agency": {"uuid": str(world.agency_a.id), "name": "Agency A"},
            "settings": {
                "brandId": str(world.brand_a.id),
                "senderName": "Brand A",
                "quietHoursStart": "21:00",
            },
        }
    ]


async def test_brand_settings_are_null_while_provisioning(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    pending = await make_brand(app, world.agency_a.id, "Pending", provision=False)
    data = await gql_data(
        client,
        "query($id: ID!) { brand(id: $id) { status settings { senderName } } }",
        world.owner_a,
        {"id": str(pending.id)},
    )
    assert data["brand"] == {"status": "PROVISIONING", "settings": None}


async def test_agency_brands_show_only_reachable_brands(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await make_brand(app, world.agency_a.id, "Brand A2")
    query = "{ agencies { nodes { name brands { nodes { name } } } } }"
    assert (await gql_data(client, query, world.viewer_a))["agencies"]["nodes"] == [
        {"name": "Agency A", "brands": {"nodes": [{"name": "Brand A"}]}}
    ]
    assert (await gql_data(client, query, world.admin_a))["agencies"]["nodes"] == [
        {"name": "Agency A", "brands": {"nodes": [{"name": "Brand A"}, {"name": "Brand A2"}]}}
    ]


async def test_brand_by_id_returns_a_reachable_brand(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    data = await gql_data(
        client,
        "query($id: ID!) { brand(id: $id) { uuid name timeZone } }",
        world.viewer_a,
        {"id": str(world.brand_a.id)},
    )
    assert data["brand"] == {
        "uuid": str(world.brand_a.id),
        "name": "Brand A",
        "timeZone": "Europe/Brussels",
    }


async def test_brand_by_id_is_null_for_other_agencys_brand(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    data = await gql_data(
        client,
        "query($id: ID!) { brand(id: $id) { name } }",
        world.owner_a,
        {"id": str(world.brand_b.id)},
    )
    assert data["brand"] is None


async def test_brand_by_id_is_null_for_member_without_grant(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    data = await gql_data(
        client,
        "query($id: ID!) { brand(id: $id) { name } }",
        world.member_a,
        {"id": str(world.brand_a.id)},
    )
    assert data["brand"] is None


async def test_brand_by_malformed_id_answers_an_error(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    body = await gql(client, '{ brand(id: "not-a-uuid") { name } }', world.owner_a)
    assert body["data"] == {"brand": None}
    assert [e["path"] for e in body["errors"]] == [["brand"]]


async def test_brand_without_id_or_header_is_null(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    assert (await gql_data(client, "{ brand { name } }", world.owner_a))["brand"] is None


async def test_unknown_field_is_a_graphql_error(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    body = await post_graphql(client, "{ brands { nodes { secret } } }", world.owner_a)
    assert "data" not in body.json() or body.json()["data"] is None
    assert "secret" in body.json()["errors"][0]["message"]


# Levier-Brand header ---------------------------------------------------------------------------


async def test_brand_header_with_reachable_brand_scopes_brand_query(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    data = await gql_data(
        client,
        "{ brand { uuid name } }",
        world.viewer_a,
        headers={"Levier-Brand": str(world.brand_a.id)},
    )
    assert data["brand"] == {"uuid": str(world.brand_a.id), "name": "Brand A"}


async def test_brand_header_with_other_agencys_brand_answers_404_problem(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await post_graphql(
        client, "{ brand { name } }", world.owner_a, headers={"Levier-Brand": str(world.brand_b.id)}
    )
    body = problem(response, 404)
    assert "Brand B" not in str(body)


async def test_brand_header_with_ungranted_brand_answers_404_problem(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await post_graphql(
        client,
        "{ viewer { email } }",
        world.member_a,
        headers={"Levier-Brand": str(world.brand_a.id)},
    )
    problem(response, 404)


@pytest.mark.parametrize("value", ["not-a-uuid", UNKNOWN_ID])
async def test_brand_header_with_bad_or_unknown_id_answers_404_problem(
    app: Litestar, client: httpx.AsyncClient, value: str
) -> None:
    world = await make_world(app)
    response = await post_graphql(
        client, "{ viewer { email } }", world.owner_a, headers={"Levier-Brand": value}
    )
    problem(response, 404)


# Authentication --------------------------------------------------------------------------------


# What an anonymous caller sends is refused before it is read (GraphQL serves no one without a
# token), whatever it holds: a query, a mutation, introspection, bytes that are not even JSON,
# or a body past the size cap (answered 401, not 413: it was never read).
ANONYMOUS_REQUESTS = {
    "query": ("POST", {"json": {"query": "{ viewer { email } }"}}),
    "brands": (
        "POST",
        {"json": {"query": "{ brands { nodes { name } } agencies { nodes { name } } }"}},
    ),
    "introspection": ("POST", {"json": {"query": "{ __schema { types { name } } }"}}),
    "not json": ("POST", {"content": b"{" * 1000, "headers": {"content-type": "application/json"}}),
    "huge body": ("POST", {"json": {"query": "{ viewer { email } }" + " " * 2_000_000}}),
    "get query": ("GET", {"params": {"query": "{ viewer { email } }"}}),
    "get introspection": ("GET", {"params": {"query": "{ __schema { types { name } } }"}}),
}


@pytest.mark.parametrize("case", ANONYMOUS_REQUESTS)
async def test_anonymous_documents_are_refused_unread(
    app: Litestar, client: httpx.AsyncClient, case: str
) -> None:
    await make_world(app)
    method, request = ANONYMOUS_REQUESTS[case]
    response = await client.request(method, "/graphql", **request)  # type: ignore[arg-type]
    body = problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    # A GraphQL client reads the refusal as a GraphQL error too.
    assert body["errors"] == [{"message": body["detail"]}]
    assert "bearer token" in body["detail"]


async def test_an_anonymous_websocket_must_authenticate_in_its_first_message(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    """A websocket is accepted (browsers cannot send a header with it), then closed 4403 when
    its connection_init carries no token; the subscription tests drive a real socket."""
    init = {"type": "websocket.receive", "text": '{"type": "connection_init"}'}
    inbox: list[dict[str, Any]] = [{"type": "websocket.connect"}, init]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return inbox.pop(0) if inbox else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": "ws",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"sec-websocket-protocol", b"graphql-transport-ws")],
        "subprotocols": ["graphql-transport-ws"],
        "client": ("127.0.0.1", 4321),
        "server": ("testserver", 80),
        "state": {},
    }
    await app(scope, receive, send)  # type: ignore[arg-type]
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.close"], sent
    assert (sent[1]["code"], sent[1]["reason"]) == (4403, "Forbidden")


async def test_anonymous_mutation_creates_nothing(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    response = await post_graphql(
        client,
        f'mutation {{ createBrand(agency: "{world.agency_a.id}", input: {{name: "X"}}) '
        f"{{ {RESULT_FIELDS} }} }}",
    )
    problem(response, 401)
    assert await rest_brand_names(client, world.agency_a.id, world.owner_a) == ["Brand A"]


async def test_graphql_with_bad_token_answers_401_problem(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    await make_world(app)
    response = await client.post(
        "/graphql",
        json={"query": "{ viewer { email } }"},
        headers={"Authorization": "Bearer lvr_at_forged"},
    )
    problem(response, 401)
    assert "www-authenticate" in response.headers


# Limits ----------------------------------------------------------------------------------------


async def test_query_deeper_than_the_limit_is_refused(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    body = await gql(client, nested_brands_query(12), world.owner_a)
    assert body.get("data") is None
    assert any("depth" in e["message"] for e in body["errors"]), body


async def test_query_at_the_depth_limit_runs(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    data = await gql_data(client, nested_brands_query(10), world.owner_a)
    node: Any = data
    for level in range(10):
        node = node[NESTING[level % 3]]
        if isinstance(node, list):
            node = node[0]
    assert node == {"__typename": "BrandConnection"}


async def test_query_with_too_many_aliases_is_refused(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    query = "{ " + " ".join(f"a{i}: viewer {{ email }}" for i in range(31)) + " }"
    body = await gql(client, query, world.owner_a)
    assert body.get("data") is None
    assert any("aliases" in e["message"] for e in body["errors"]), body


async def test_query_with_as_many_aliases_as_allowed_runs(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    query = "{ " + " ".join(f"a{i}: viewer {{ email }}" for i in range(30)) + " }"
    data = await gql_data(client, query, world.owner_a)
    assert len(data) == 30
    assert data["a29"] == {"email": world.owner_a.email}


# The document is measured before it is parsed: garbage past the size cap is refused by size
# (a parse would answer a syntax error).
async def test_a_document_past_the_size_cap_is_refused_before_parsing(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    body = await gql(client, "{" * 100_001, world.owner_a)
    assert body["data"] is None
    assert [e["message"] for e in body["errors"]] == [
        "the document is larger than 100000 bytes; it was not parsed"
    ]


async def test_a_get_document_past_the_size_cap_is_refused_before_parsing(
    settings: Settings,
) -> None:
    # A smaller cap: URLs stop at 64 kB in the HTTP client.
    app = create_app(settings.replace(graphql_max_document_bytes=1_000))
    async with serving(app) as client:
        world = await make_world(app)
        response = await client.get(
            "/graphql", params={"query": "{" * 1_001}, headers=world.owner_a.headers
        )
        padded = await client.get(
            "/graphql",
            params={"query": "{ viewer { email } }".ljust(1_000)},
            headers=world.owner_a.headers,
        )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "data": None,
        "errors": [{"message": "the document is larger than 1000 bytes; it was not parsed"}],
    }
    assert padded.json() == {"data": {"viewer": {"email": world.owner_a.email}}}


async def test_a_document_within_the_caps_runs(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    query = "{ viewer { email } }"
    padded = query + " " * (100_000 - len(query))
    data = await gql_data(client, padded, world.owner_a)
    assert data == {"viewer": {"email": world.owner_a.email}}


@pytest.mark.parametrize(
    "document",
    [
        "{ " + "a " * 5_001 + "}",
        "#\n" * 5_001 + "{ viewer { email } }",  # comments count: they cost the lexer too
    ],
    ids=["fields", "comments"],
)
async def test_a_document_with_too_many_tokens_is_refused(
    app: Litestar, client: httpx.AsyncClient, document: str
) -> None:
    world = await make_world(app)
    body = await gql(client, document, world.owner_a)
    assert body["data"] is None
    assert [e["message"] for e in body["errors"]] == [
        "Syntax Error: Document contains more than 5000 tokens. Parsing aborted."
    ]


async def test_a_million_tokens_are_refused_by_the_token_count_not_parsed(
    settings: Settings,
) -> None:
    # With the size caps lifted, only the lexer's count stands: it stops at the cap, before a
    # document (whose million unknown fields validation would list) exists.
    document = "{ " + "a " * 1_000_000 + "}"
    roomy = settings.replace(
        graphql_max_document_bytes=10_000_000, graphql_max_body_bytes=10_000_000
    )
    app = create_app(roomy)
    async with serving(app) as client:
        world = await make_world(app)
        body = await gql(client, document, world.owner_a)
    assert body["data"] is None
    assert [e["message"] for e in body["errors"]] == [
        "Syntax Error: Document contains more than 5000 tokens. Parsing aborted."
    ]


async def test_a_body_past_the_graphql_cap_answers_413_unread(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await post_graphql(
        client, "{ viewer { email } }", world.owner_a, variables={"pad": "x" * 1024 * 1024}
    )
    problem(response, 413)


INTROSPECTION = "{ __schema { queryType { name } } }"


@pytest.mark.parametrize("env", [Environment.PRODUCTION, Environment.DEVELOPMENT, Environment.TEST])
async def test_introspection_is_off_in_production_only(
    stack: str, settings: Settings, env: Environment
) -> None:
    if stack == "embedded" and env is Environment.PRODUCTION:
        pytest.skip("production needs PostgreSQL: checked on the postgres stack")
    app = create_app(
        settings.replace(env=env, secret_key="x" * 40, public_url="https://l.example.test")
    )
    async with serving(app) as client:
        world = await make_world(app)
        body = await gql(client, INTROSPECTION, world.owner_a)
        # The schema is still used: ordinary queries run.
        viewer = await gql_data(client, "{ viewer { email } }", world.owner_a)
    assert viewer == {"viewer": {"email": world.owner_a.email}}
    if env is Environment.PRODUCTION:
        assert body["data"] is None
        assert "introspection" in body["errors"][0]["message"]
    else:
        assert body == {"data": {"__schema": {"queryType": {"name": "Query"}}}}


# Mutations -----------------------------------------------------------------------------------
# (Each tenancy mutation by role, input and isolation: tests/tenancy/test_graphql.py.)


async def test_a_failed_mutation_does_not_undo_an_earlier_one(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    bad_zone = '{name: "X", timeZone: "Mars/Base"}'
    data = await gql_data(
        client,
        f"""mutation {{
          ok: createAgency(input: {{name: "Kept"}}) {{ __typename }}
          bad: createBrand(agency: "{world.agency_a.id}", input: {bad_zone}) {{
            {RESULT_FIELDS}
          }}
        }}""",
        world.owner_a,
    )
    assert data["ok"] == {"__typename": "Agency"}
    assert (data["bad"]["__typename"], data["bad"]["httpStatus"]) == ("OperationError", 422)
    names = [
        a["name"]
        for a in (await gql_data(client, AGENCY_NAMES, world.owner_a))["agencies"]["nodes"]
    ]
    assert names == ["Agency A", "Kept"]
    assert await rest_brand_names(client, world.agency_a.id, world.owner_a) == ["Brand A"]


# Dataloaders -----------------------------------------------------------------------------------


async def test_brand_agencies_are_loaded_in_one_batch(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    async with session_of(app) as session:
        agency_c = await make_agency(session, "Agency C", world.owner_a)
        await session.commit()
    for name in ("Brand A2", "Brand A3"):
        await make_brand(app, world.agency_a.id, name, provision=False)
    for name in ("Brand C1", "Brand C2"):
        await make_brand(app, agency_c.id, name, provision=False)

    with statements_of(app) as statements:
        data = await gql_data(
            client, "{ brands { nodes { name agency { name } } } }", world.owner_a
        )

    assert sorted((b["name"], b["agency"]["name"]) for b in data["brands"]["nodes"]) == [
        ("Brand A", "Agency A"),
        ("Brand A2", "Agency A"),
        ("Brand A3", "Agency A"),
        ("Brand C1", "Agency C"),
        ("Brand C2", "Agency C"),
    ]
    agency_selects = [s for s in statements if re.search(r"\bfrom agencies\b", s, re.IGNORECASE)]
    assert len(agency_selects) == 1, agency_selects


async def test_dataloader_cache_does_not_outlive_the_request(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    query = "{ brands { nodes { agency { name } } } }"
    assert (await gql_data(client, query, world.owner_a))["brands"]["nodes"] == [
        {"agency": {"name": "Agency A"}}
    ]
    response = await client.patch(
        f"/v1/agencies/{world.agency_a.id}", json={"name": "Renamed"}, headers=world.owner_a.headers
    )
    assert response.status_code == 200, response.text
    assert (await gql_data(client, query, world.owner_a))["brands"]["nodes"] == [
        {"agency": {"name": "Renamed"}}
    ]


async def test_dataloader_results_follow_each_callers_reach(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await make_brand(app, world.agency_a.id, "Brand A2")
    query = "{ agencies { nodes { brands { nodes { name } } } } }"
    admin = await gql_data(client, query, world.admin_a)
    viewer = await gql_data(client, query, world.viewer_a)
    assert admin["agencies"]["nodes"] == [
        {"brands": {"nodes": [{"name": "Brand A"}, {"name": "Brand A2"}]}}
    ]
    assert viewer["agencies"]["nodes"] == [{"brands": {"nodes": [{"name": "Brand A"}]}}]


# GraphiQL --------------------------------------------------------------------------------------


async def test_graphiql_is_served_outside_production(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()


async def test_graphiql_is_not_served_in_production(stack: str, settings: Settings) -> None:
    if stack == "embedded":
        pytest.skip("production needs PostgreSQL: checked on the postgres stack")
    production = create_app(
        settings.replace(
            env=Environment.PRODUCTION, secret_key="x" * 40, public_url="https://l.example.test"
        )
    )
    async with production.lifespan():
        transport = httpx.ASGITransport(app=production)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            response = await http.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 404, response.text
    assert not response.headers["content-type"].startswith("text/html")
    assert "graphiql" not in response.text.lower()


async def test_graphql_queries_still_run_in_production(stack: str, settings: Settings) -> None:
    if stack == "embedded":
        pytest.skip("production needs PostgreSQL: checked on the postgres stack")
    production = create_app(
        settings.replace(
            env=Environment.PRODUCTION, secret_key="x" * 40, public_url="https://l.example.test"
        )
    )
    async with production.lifespan():
        async with session_of(production) as session:
            person = await make_person(session, "prod@agency.test")
            await session.commit()
        transport = httpx.ASGITransport(app=production)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            data = await gql_data(http, "{ viewer { email } }", person)
    assert data == {"viewer": {"email": "prod@agency.test"}}
