"""Every profile route keeps its rows in their brand: another brand's rows answer 404 (who may
call which route, role by role and scope by scope, is tests/test_access_matrix.py's table)."""

from __future__ import annotations

import re

import httpx
from litestar import Litestar
from litestar.routes import HTTPRoute

from backend.core.api import SCOPE_OPT
from tests.factories import World, make_world, problem
from tests.profiles.helpers import (
    add_row,
    create_profile,
    define_attribute,
    define_table,
    define_topic,
    finished_export,
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


async def test_rows_of_brand_a_answer_404_on_brand_b(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    ids = await brand_a_rows(app, client, world)
    walked = 0
    for method, path in profile_routes(app):
        if "{" not in path:
            continue
        walked += 1
        response = await client.request(
            method,
            f"/v1/brands/{world.brand_b.id}{fill(path, ids)}",
            json=body_for(path, ids),
            headers=world.owner_b.headers,
        )
        problem(response, 404)
    assert walked >= 30, walked


async def test_brand_b_lists_none_of_brand_a_rows(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    await brand_a_rows(app, client, world)
    for path in PREFIXES:
        response = await client.get(
            f"/v1/brands/{world.brand_b.id}{path}", headers=world.owner_b.headers
        )
        assert response.status_code == 200, response.text
        assert response.json()["items"] == [], path
