"""Access to every profile route: another brand's rows answer 404, viewers cannot write (403),
and a token must carry profiles:read or profiles:write (403 insufficient-scope)."""

from __future__ import annotations

import re

import httpx
from litestar import Litestar
from litestar.routes import HTTPRoute

from backend.core.api import SCOPE_OPT
from tests.factories import World, make_world, problem
from tests.profiles.helpers import (
    add_row,
    brand_url,
    create_profile,
    define_attribute,
    define_table,
    define_topic,
    finished_export,
    headers_with_scopes,
)

PREFIXES = ("/profiles", "/profile-attributes", "/consent-topics", "/linked-tables", "/exports")


def profile_routes(app: Litestar) -> list[tuple[str, str]]:
    """(method, path after the brand) of every route of the profiles domain."""
    return [(method, path) for method, path, _ in scoped_routes(app)]


def scoped_routes(app: Litestar) -> list[tuple[str, str, str]]:
    """(method, path after the brand, scope it declares) of every profiles route."""
    routes: list[tuple[str, str, str]] = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        rest = re.sub(r"^/v1/brands/\{brand_id:uuid\}", "", route.path)
        if rest != route.path and rest.startswith(PREFIXES):
            for handler in route.route_handlers:
                # Other domains hang routes under a profile (its events…): not walked here.
                if not handler.fn.__module__.startswith("backend.profiles."):
                    continue
                for method in sorted(handler.http_methods - {"HEAD", "OPTIONS"}):
                    routes.append((str(method), rest, str(handler.opt[SCOPE_OPT])))
    return sorted(routes)


async def brand_a_rows(app: Litestar, client: httpx.AsyncClient, world: World) -> dict[str, str]:
    profile = await create_profile(client, world, email="a@example.com")
    attribute = await define_attribute(client, world, key="note", type="text")
    topic = await define_topic(client, world, "offers")
    await define_table(client, world, key="coupons", columns=[{"key": "code", "type": "text"}])
    row = await add_row(client, world, "coupons", profileId=profile["id"], values={"code": "A"})
    export = await finished_export(app, client, world)
    return {
        "profile_id": profile["id"],
        "attribute_id": attribute["id"],
        "topic_id": topic["id"],
        "key": "coupons",
        "row_id": row["id"],
        "export_id": export["id"],
    }


def body_for(path: str, ids: dict[str, str]) -> dict[str, str]:
    """A valid body for the route, so only the missing row can refuse it."""
    if path.endswith("/merge"):
        return {"otherId": ids["profile_id"]}
    if path.endswith("/orders"):
        return {
            "orderId": "o-1",
            "occurredAt": "2026-01-01T10:00:00Z",
            "amount": "1",
            "currency": "EUR",
        }
    if path.endswith("/consents"):
        return {"state": "granted", "source": "x"}
    if path.startswith(("/profile-attributes/", "/consent-topics/")):
        return {"label": "x"}
    if path.endswith("/rows"):
        return {"profileId": ids["profile_id"], "values": {"code": "B"}}
    if path.endswith("/rows/{row_id:uuid}"):
        return {"values": {"code": "C"}}
    if path == "/linked-tables/{key:str}":
        return {"label": "x"}
    if path == "/exports/profiles":
        return {"format": "csv"}
    return {}


def fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+):(uuid|str)\}", lambda m: ids[m.group(1)], path)


async def test_the_walk_covers_every_profile_route(app: Litestar) -> None:
    assert len(profile_routes(app)) == 40


async def test_rows_of_brand_a_answer_404_on_brand_b(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    ids = await brand_a_rows(app, client, world)
    for method, path in profile_routes(app):
        if "{" not in path:
            continue
        response = await client.request(
            method,
            f"/v1/brands/{world.brand_b.id}{fill(path, ids)}",
            json=body_for(path, ids),
            headers=world.owner_b.headers,
        )
        problem(response, 404)


async def test_brand_b_lists_none_of_brand_a_rows(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    await brand_a_rows(app, client, world)
    for path in PREFIXES:
        response = await client.get(
            f"/v1/brands/{world.brand_b.id}{path}", headers=world.owner_b.headers
        )
        assert response.status_code == 200, response.text
        assert response.json()["items"] == [], path


async def test_viewer_cannot_write_on_any_route(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    ids = await brand_a_rows(app, client, world)
    writes = [(m, p) for m, p in profile_routes(app) if m != "GET"]
    assert writes
    for method, path in writes:
        response = await client.request(
            method, brand_url(world, fill(path, ids)), json={}, headers=world.viewer_a.headers
        )
        problem(response, 403)


async def test_viewer_reads_every_read_route(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    ids = await brand_a_rows(app, client, world)
    for method, path in profile_routes(app):
        if method == "GET":
            response = await client.get(
                brand_url(world, fill(path, ids)), headers=world.viewer_a.headers
            )
            assert response.status_code == 200, (path, response.text)


async def test_write_routes_need_the_profiles_write_scope(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    ids = await brand_a_rows(app, client, world)
    headers = await headers_with_scopes(app, world.manager_a, "profiles:read")
    writes = [(m, p) for m, p, scope in scoped_routes(app) if scope == "profiles:write"]
    assert writes
    for method, path in writes:
        response = await client.request(
            method, brand_url(world, fill(path, ids)), json={}, headers=headers
        )
        body = problem(response, 403)
        assert body["type"].endswith(":insufficient-scope"), (method, path)


async def test_read_routes_need_the_profiles_read_scope(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    ids = await brand_a_rows(app, client, world)
    headers = await headers_with_scopes(app, world.manager_a, "brands:read profiles:write")
    reads = [(m, p) for m, p, scope in scoped_routes(app) if scope == "profiles:read"]
    assert any(m == "POST" for m, _ in reads)  # requesting an export reads
    for method, path in reads:
        response = await client.request(
            method, brand_url(world, fill(path, ids)), json=body_for(path, ids), headers=headers
        )
        body = problem(response, 403)
        assert body["type"].endswith(":insufficient-scope"), path


async def test_every_route_declares_a_profiles_scope(app: Litestar) -> None:
    assert {scope for _, _, scope in scoped_routes(app)} == {"profiles:read", "profiles:write"}
