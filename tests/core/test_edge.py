"""The request edge: NUL characters, nesting depth, media types and trailing newlines, refused
the same way on every route before anything is stored."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

import httpx
import pytest
from litestar import Litestar

from backend.core.edge import nesting_exceeds
from tests.factories import World, make_world, problem

DEPTH = 64  # LEVIER_JSON_MAX_DEPTH's default
HOOK_SECRET = "edge-shared-secret-0123456789abcdef"
PROFILE_MUTATION = """mutation($brand: ID!, $input: CreateProfileInput!) {
  createProfile(brand: $brand, input: $input) { __typename }
}"""


def brand(world: World, path: str) -> str:
    return f"/v1/brands/{world.brand_a.id}{path}"


def nested(levels: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(levels):
        value = [value]
    return value


LEAF_RULE = '{"field": "firstName", "op": "exists", "value": true}'


def deep_not(levels: int) -> dict[str, Any]:
    rule: dict[str, Any] = json.loads(LEAF_RULE)
    for _ in range(levels):
        rule = {"not": rule}
    return rule


def raw_nested(levels: int) -> str:
    # Written as text: encoders recurse, and would fail before the request is sent.
    return "[" * levels + "]" * levels


def raw_not(levels: int) -> str:
    return '{"not": ' * levels + LEAF_RULE + "}" * levels


def event(event_id: str = "e-1", **extra: Any) -> dict[str, Any]:
    return {"eventId": event_id, "name": "page_viewed", "email": "ada@example.com", **extra}


def leaves(value: Any) -> list[str]:
    """The body's values that could name a person, as they would be logged."""
    if isinstance(value, dict):
        return [t for v in value.values() for t in leaves(v)]
    if isinstance(value, list):
        return [t for v in value for t in leaves(v)]
    return [value, json.dumps(value)[1:-1]] if isinstance(value, str) and len(value) > 4 else []


async def listed(client: httpx.AsyncClient, world: World, path: str) -> list[Any]:
    response = await client.get(brand(world, path), headers=world.manager_a.headers)
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


# NUL characters --------------------------------------------------------------------------------

NUL_CASES = [
    # (id, path, body, field named, list that must stay empty)
    (
        "profile-field",
        "/profiles",
        {"email": "a@b.test", "firstName": "A\x00"},
        "firstName",
        "/profiles",
    ),
    (
        "attribute-value",
        "/profiles",
        {"email": "a@b.test", "attributes": {"tier": "gold\x00"}},
        "attributes.tier",
        "/profiles",
    ),
    (
        "attribute-key",
        "/profiles",
        {"email": "a@b.test", "attributes": {"ti\x00er": "gold"}},
        "attributes.ti\\u0000er",
        "/profiles",
    ),
    ("event-id", "/events", event("e\x001"), "eventId", "/events"),
    (
        "event-property",
        "/events",
        event(properties={"page": {"path": ["/", "/a\x00"]}}),
        "properties.page.path[1]",
        "/events",
    ),
    (
        "segment-value",
        "/segments",
        {
            "key": "named",
            "name": "Named",
            "definition": {"field": "firstName", "op": "eq", "value": "Ad\x00a"},
        },
        "definition.value",
        "/segments",
    ),
    (
        "linked-table-label",
        "/linked-tables",
        {"key": "stores", "label": "Sto\x00res", "columns": []},
        "label",
        "/linked-tables",
    ),
]


@pytest.mark.parametrize(
    ("path", "body", "field", "listing"),
    [case[1:] for case in NUL_CASES],
    ids=[case[0] for case in NUL_CASES],
)
async def test_nul_in_a_json_string_is_problem_422_naming_the_field(
    app: Litestar,
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    path: str,
    body: dict[str, Any],
    field: str,
    listing: str,
) -> None:
    world = await make_world(app)
    caplog.set_level(logging.DEBUG)
    response = await client.post(brand(world, path), json=body, headers=world.manager_a.headers)
    refused = problem(response, 422)
    assert refused["type"] == "urn:levier:problem:invalid-input"
    assert refused["errors"][0]["field"] == field
    assert field in refused["detail"]
    assert await listed(client, world, listing) == []
    logged = caplog.text + "".join(capfd.readouterr())
    assert [text for text in leaves(body) if text in logged] == []


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("/profiles", "email=ada%00%40example.com", "email"),
        ("/events", "name=page%00viewed", "name"),
        ("/segments", "cursor=x%00", "cursor"),
    ],
)
async def test_nul_in_a_query_parameter_is_problem_422_naming_it(
    app: Litestar, client: httpx.AsyncClient, path: str, query: str, field: str
) -> None:
    world = await make_world(app)
    response = await client.get(f"{brand(world, path)}?{query}", headers=world.manager_a.headers)
    refused = problem(response, 422)
    assert refused["errors"] == [
        {"field": field, "in": "query", "message": refused["errors"][0]["message"]}
    ]


async def test_nul_in_a_batch_rejects_only_the_event_holding_it(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    batch = {
        "events": [
            event("e-1"),
            event("e-2", properties={"note": "bad\x00"}),
            event("e\x003"),
            event("e-4"),
        ]
    }
    response = await client.post(
        brand(world, "/events/batch"), json=batch, headers=world.manager_a.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (2, 2)
    outcomes = {r["index"]: r for r in body["results"]}
    assert outcomes[1]["outcome"] == "rejected"
    assert outcomes[1]["errors"][0]["field"] == "properties.note"
    assert outcomes[2]["outcome"] == "rejected"
    assert outcomes[2]["errors"][0]["field"] == "eventId"
    stored = await listed(client, world, "/events")
    assert sorted(e["eventId"] for e in stored) == ["e-1", "e-4"]


async def test_nul_in_graphql_variables_is_a_graphql_error(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    variables = {
        "brand": str(world.brand_a.id),
        "input": {"email": "a@b.test", "firstName": "\x00"},
    }
    response = await client.post(
        "/graphql",
        json={"query": PROFILE_MUTATION, "variables": variables},
        headers=world.manager_a.headers,
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "invalid-input"
    assert error["extensions"]["errors"][0]["field"] == "variables.input.firstName"
    assert await listed(client, world, "/profiles") == []


async def test_nul_in_a_graphql_string_literal_is_a_graphql_error(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    literal = '{email: "a@b.test", firstName: "A\\u0000"}'
    call = f'createProfile(brand: "{world.brand_a.id}", input: {literal})'
    document = f"mutation {{ {call} {{ __typename }} }}"
    response = await client.post(
        "/graphql", json={"query": document}, headers=world.manager_a.headers
    )
    assert response.status_code == 400, response.text
    (error,) = response.json()["errors"]
    assert error["extensions"]["errors"][0]["field"] == "query"
    assert await listed(client, world, "/profiles") == []


@pytest.mark.parametrize(
    ("method", "url", "form", "field", "where"),
    [
        ("GET", "/linked-tables/sto%00res", None, "path", "path"),
        ("PATCH", "/event-types/page%00viewed", None, "path", "path"),
        (
            "POST",
            "/oauth/token",
            {"grant_type": "client_credentials", "client_id": "a\x00"},
            "client_id",
            "body",
        ),
        ("POST", "/auth/login", {"email": "ada\x00@example.com", "password": "x"}, "email", "body"),
    ],
)
async def test_nul_in_a_path_or_a_form_is_problem_422(
    app: Litestar,
    client: httpx.AsyncClient,
    method: str,
    url: str,
    form: dict[str, str] | None,
    field: str,
    where: str,
) -> None:
    world = await make_world(app)
    target = url if url.startswith(("/oauth", "/auth")) else brand(world, url)
    response = await client.request(
        method, target, data=form, json=None if form else {}, headers=world.manager_a.headers
    )
    refused = problem(response, 422)
    assert refused["errors"][0]["field"] == field
    assert refused["errors"][0]["in"] == where


# Nesting depth ---------------------------------------------------------------------------------

DEEP_CASES = [
    ("100k-arrays", "/profiles", raw_nested(100_000).encode(), "/profiles"),
    (
        "profile-attribute",
        "/profiles",
        json.dumps({"email": "a@b.test", "attributes": {"x": nested(DEPTH)}}).encode(),
        "/profiles",
    ),
    (
        "event-properties",
        "/events",
        json.dumps(event(properties={"x": nested(DEPTH)})).encode(),
        "/events",
    ),
    ("event-batch", "/events/batch", f'{{"events": [{raw_nested(5_000)}]}}'.encode(), "/events"),
    (
        "segment-5000-not",
        "/segments",
        f'{{"key": "deep", "name": "Deep", "definition": {raw_not(5_000)}}}'.encode(),
        "/segments",
    ),
]


@pytest.mark.parametrize(
    ("path", "body", "listing"),
    [case[1:] for case in DEEP_CASES],
    ids=[case[0] for case in DEEP_CASES],
)
async def test_json_nested_too_deep_is_problem_400(
    app: Litestar, client: httpx.AsyncClient, path: str, body: bytes, listing: str
) -> None:
    world = await make_world(app)
    response = await client.post(
        brand(world, path),
        content=body,
        headers={**world.manager_a.headers, "content-type": "application/json"},
    )
    refused = problem(response, 400)
    assert refused["type"] == "urn:levier:problem:nesting-too-deep"
    assert str(DEPTH) in refused["detail"]
    assert await listed(client, world, listing) == []


async def test_an_anonymous_body_is_refused_by_the_guard_before_any_check(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    # Deep and holding a NUL: checked, it would answer 400 or 422; unread, the guard's 401.
    body = f'{{"email": "a@b.test", "x": "\\u0000", "y": {raw_nested(100_000)}}}'.encode()
    response = await client.post(
        brand(world, "/profiles"), content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 401, response.text


async def test_nesting_at_the_limit_is_accepted(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    # The event object and its properties hold two levels: DEPTH - 2 more make DEPTH in all.
    body = event(properties={"x": nested(DEPTH - 2), "s": "[[[[" * DEPTH})
    response = await client.post(
        brand(world, "/events"), json=body, headers=world.manager_a.headers
    )
    assert response.status_code == 202, response.text


async def test_segment_rule_deeper_than_its_limit_is_problem_422(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    body = {"key": "deep", "name": "Deep", "definition": deep_not(20)}
    response = await client.post(
        brand(world, "/segments"), json=body, headers=world.manager_a.headers
    )
    assert "nested deeper" in problem(response, 422)["detail"]
    assert await listed(client, world, "/segments") == []


async def test_deep_graphql_variables_are_a_graphql_error(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    variables = f'{{"brand": "{world.brand_a.id}", "input": {{"x": {raw_nested(5_000)}}}}}'
    query = json.dumps(PROFILE_MUTATION)
    response = await client.post(
        "/graphql",
        content=f'{{"query": {query}, "variables": {variables}}}'.encode(),
        headers={**world.manager_a.headers, "content-type": "application/json"},
    )
    assert response.status_code == 400, response.text
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "nesting-too-deep"
    get = await client.get(
        "/graphql",
        params={"query": "{ viewer { id } }", "variables": f'{{"x": {raw_nested(5_000)}}}'},
        headers=world.manager_a.headers,
    )
    assert get.status_code == 400, get.text
    assert get.json()["errors"][0]["extensions"]["code"] == "nesting-too-deep"
    nul = await client.get(
        "/graphql",
        params={"query": "{ viewer { id } }", "variables": '{"x": "\\u0000é"}'},
        headers=world.manager_a.headers,
    )
    assert nul.status_code == 400, nul.text
    assert nul.json()["errors"][0]["extensions"]["errors"][0]["field"] == "variables.x"


async def hook_connector(client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    response = await client.post(
        brand(world, "/connectors"),
        json={"type": "qualifio", "name": "Contest", "secret": HOOK_SECRET},
        headers=world.manager_a.headers,
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def signed(body: bytes) -> dict[str, str]:
    digest = hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"x-qualifio-signature": f"sha256={digest}"}


@pytest.mark.parametrize(
    ("body", "status", "slug"),
    [
        (f'{{"id": "p-1", "form": {raw_nested(100_000)}}}'.encode(), 400, "nesting-too-deep"),
        (json.dumps({"id": "p-1", "url": "https://x.test/\x00"}).encode(), 422, "invalid-input"),
    ],
    ids=["deep", "nul"],
)
async def test_a_signed_hook_body_too_deep_or_with_a_nul_is_refused_and_not_stored(
    app: Litestar, client: httpx.AsyncClient, body: bytes, status: int, slug: str
) -> None:
    world = await make_world(app)
    connector = await hook_connector(client, world)
    headers = {"content-type": "application/json", **signed(body)}
    response = await client.post(connector["hookPath"], content=body, headers=headers)
    assert problem(response, status)["type"] == f"urn:levier:problem:{slug}"
    assert await listed(client, world, f"/connectors/{connector['id']}/deliveries") == []


# Media types -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/profiles", {"email": "a@b.test"}),
        ("/events", event()),
        ("/events/batch", {"events": [event()]}),
        ("/segments", {"key": "all", "name": "All", "definition": deep_not(1)}),
    ],
)
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_a_json_route_refuses_another_media_type_with_415(
    app: Litestar,
    client: httpx.AsyncClient,
    path: str,
    body: dict[str, Any],
    content_type: str | None,
) -> None:
    world = await make_world(app)
    request = client.build_request(
        "POST",
        brand(world, path),
        content=json.dumps(body).encode(),
        headers=world.manager_a.headers,
    )
    if content_type is not None:
        request.headers["content-type"] = content_type
    assert request.headers.get("content-type") == content_type
    response = await client.send(request)
    assert problem(response, 415)["type"] == "urn:levier:problem:unsupported-media-type"
    listing = "/events" if path.startswith("/events") else path
    assert await listed(client, world, listing) == []


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "application/merge-patch+json"]
)
async def test_json_media_types_with_parameters_or_suffix_are_read(
    app: Litestar, client: httpx.AsyncClient, content_type: str
) -> None:
    world = await make_world(app)
    response = await client.post(
        brand(world, "/profiles"),
        content=b'{"email": "a@b.test"}',
        headers={**world.manager_a.headers, "content-type": content_type},
    )
    assert response.status_code == 201, response.text


async def test_a_partner_hook_with_an_odd_media_type_is_still_received(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    connector = await hook_connector(client, world)
    body = json.dumps({"id": "p-1", "form": []}).encode()
    headers = {"content-type": "text/plain; charset=utf-8", **signed(body)}
    response = await client.post(connector["hookPath"], content=body, headers=headers)
    assert response.status_code == 202, response.text


async def test_graphql_keeps_refusing_unknown_media_types_itself(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await client.post(
        "/graphql",
        content=b'{"query": "{ viewer { id } }"}',
        headers={**world.manager_a.headers, "content-type": "text/plain"},
    )
    assert response.status_code == 400, response.text


# Trailing newlines -----------------------------------------------------------------------------

NEWLINE_CASES = [
    (
        "/profile-attributes",
        {"key": "tier\n", "label": "Tier", "type": "text"},
        "/profile-attributes",
    ),
    (
        "/profiles",
        {"email": "a@b.test", "externalIds": [{"source": "erp\n", "id": "1"}]},
        "/profiles",
    ),
    ("/events", event(name="page_viewed\n"), "/events"),
    ("/segments", {"key": "gold\n", "name": "Gold", "definition": deep_not(1)}, "/segments"),
    ("/linked-tables", {"key": "stores\n", "label": "Stores"}, "/linked-tables"),
]


@pytest.mark.parametrize(("path", "body", "listing"), NEWLINE_CASES)
async def test_a_trailing_newline_fails_a_pattern(
    app: Litestar, client: httpx.AsyncClient, path: str, body: dict[str, Any], listing: str
) -> None:
    world = await make_world(app)
    response = await client.post(brand(world, path), json=body, headers=world.manager_a.headers)
    problem(response, 422)
    assert await listed(client, world, listing) == []


def reference_depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((reference_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((reference_depth(v) for v in value), default=0)
    return 0


@pytest.mark.parametrize(
    "value",
    [
        {"a": "[[[[{{{{", "b": ['\\"[', {"c": []}]},
        [[], [[]], [[[]]], {"x": [{"y": [[1, "]]]]"]]}]}],
        [[[]] * 50] * 20,
        nested(DEPTH - 1, {"k": "v"}),
        nested(DEPTH, {"k": "v"}),
        nested(DEPTH + 1),
        {"s": "\\" * 9 + '"' + "[" * 100},
    ],
)
@pytest.mark.parametrize("limit", [1, 3, DEPTH])
def test_nesting_is_measured_as_a_decoder_would(value: Any, limit: int) -> None:
    body = json.dumps(value).encode()
    assert nesting_exceeds(body, limit) is (reference_depth(value) > limit)
