"""Every 422 for a body the decoder refuses has one shape, whatever the domain: each error names
its `field` (the wire name) and its JSON `pointer` in the body, with a message."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from litestar import Litestar

from tests.factories import make_world, problem

CASES = [
    # (path under the brand, body, field, pointer)
    ("/segments", {"key": 7, "name": "x"}, "key", "/key"),
    ("/segments", {"key": "ok", "name": "x", "colour": "red"}, "colour", "/colour"),
    ("/segments", {"name": "x"}, "key", "/key"),
    ("/profiles", {"email": "a@example.com", "firstName": ["no"]}, "firstName", "/firstName"),
    ("/webhook-endpoints", {"url": "https://example.com/h", "events": 3}, "events", "/events"),
]


@pytest.mark.parametrize(("path", "body", "field", "pointer"), CASES)
async def test_a_refused_body_names_its_field_and_pointer(
    app: Litestar,
    client: httpx.AsyncClient,
    path: str,
    body: dict[str, Any],
    field: str,
    pointer: str,
) -> None:
    world = await make_world(app)
    response = await client.post(
        f"/v1/brands/{world.brand_a.id}{path}", json=body, headers=world.owner_a.headers
    )
    error = problem(response, 422)["errors"][0]
    assert (error["field"], error["pointer"]) == (field, pointer)
    assert error["message"]


async def test_a_nested_field_is_named_with_its_pointer(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    created = await client.post(
        f"/v1/brands/{world.brand_a.id}/segments",
        json={"key": "vip", "name": "VIP", "kind": "static"},
        headers=world.owner_a.headers,
    )
    assert created.status_code == 201, created.text
    response = await client.post(
        f"/v1/brands/{world.brand_a.id}/segments/{created.json()['id']}/members",
        json={"externalIds": [{"source": "erp", "id": "1"}, {"source": 5, "id": "2"}]},
        headers=world.owner_a.headers,
    )
    error = problem(response, 422)["errors"][0]
    assert (error["field"], error["pointer"]) == ("source", "/externalIds/1/source")


@pytest.mark.parametrize("stack", ["embedded"], indirect=True)
async def test_serving_the_openapi_document_leaves_422s_naming_only_the_bad_field(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    # Litestar documents unconsumed path parameters ({brand_id}) by adding them to the
    # handler's signature in place; validation must not start expecting them afterwards.
    world = await make_world(app)
    assert (await client.get("/schema/openapi.json")).status_code == 200
    response = await client.post(
        f"/v1/brands/{world.brand_a.id}/profiles",
        json={"email": "a@example.com", "firstName": ["no"]},
        headers=world.owner_a.headers,
    )
    assert [e["field"] for e in problem(response, 422)["errors"]] == ["firstName"]
