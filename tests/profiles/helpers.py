"""Small helpers of the profile tests: URLs, profiles and attributes made through the API."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

import httpx
from litestar import Litestar

from backend.auth import service as auth_service
from backend.profiles.exports import service as exports
from tests.factories import Person, World, session_of

UNKNOWN_ID = "00000000-0000-7000-8000-000000000000"


def brand_url(world: World, path: str = "") -> str:
    return f"/v1/brands/{world.brand_a.id}{path}"


async def create_profile(
    client: httpx.AsyncClient, world: World, person: Person | None = None, **body: Any
) -> dict[str, Any]:
    response = await client.post(
        brand_url(world, "/profiles"), json=body, headers=(person or world.manager_a).headers
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def read_profile(
    client: httpx.AsyncClient, world: World, profile_id: str, person: Person | None = None
) -> dict[str, Any]:
    response = await client.get(
        brand_url(world, f"/profiles/{profile_id}"), headers=(person or world.viewer_a).headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def define_attribute(client: httpx.AsyncClient, world: World, **body: Any) -> dict[str, Any]:
    body.setdefault("label", body["key"].replace("_", " ").title())
    response = await client.post(
        brand_url(world, "/profile-attributes"), json=body, headers=world.manager_a.headers
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def define_topic(client: httpx.AsyncClient, world: World, key: str) -> dict[str, Any]:
    response = await client.post(
        brand_url(world, "/consent-topics"),
        json={"key": key, "label": key.title()},
        headers=world.manager_a.headers,
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def record_consent(
    client: httpx.AsyncClient, world: World, profile_id: str, **body: Any
) -> dict[str, Any]:
    body.setdefault("source", "test")
    response = await client.post(
        brand_url(world, f"/profiles/{profile_id}/consents"),
        json=body,
        headers=world.manager_a.headers,
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def headers_with_scopes(app: Litestar, person: Person, scopes: str) -> dict[str, str]:
    """A bearer token of ``person`` carrying only ``scopes``."""
    async with session_of(app) as session:
        token, _ = await auth_service.issue_access_token(
            session, person.id, ttl=dt.timedelta(hours=1), scopes=scopes
        )
        await session.commit()
    return {"Authorization": f"Bearer {token}"}


def fields_of(problem_body: dict[str, Any]) -> list[str]:
    return [error["field"] for error in problem_body.get("errors") or []]


async def define_table(client: httpx.AsyncClient, world: World, **body: Any) -> dict[str, Any]:
    body.setdefault("label", body["key"].replace("_", " ").title())
    # Copies: callers pass module-level column lists, which other tests post as they are.
    if "columns" in body:
        body["columns"] = [{"label": c["key"].title(), **c} for c in body["columns"]]
    response = await client.post(
        brand_url(world, "/linked-tables"), json=body, headers=world.manager_a.headers
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def add_row(
    client: httpx.AsyncClient, world: World, table: str, **body: Any
) -> dict[str, Any]:
    response = await client.post(
        brand_url(world, f"/linked-tables/{table}/rows"), json=body, headers=world.manager_a.headers
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def request_export(client: httpx.AsyncClient, world: World, **body: Any) -> dict[str, Any]:
    response = await client.post(
        brand_url(world, "/exports/profiles"), json=body, headers=world.manager_a.headers
    )
    assert response.status_code == 202, response.text
    created: dict[str, Any] = response.json()
    return created


async def finished_export(app: Litestar, client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    """An export written in place, as the job would (for tests that run no worker)."""
    export = await request_export(client, world, format="csv")
    async with session_of(app, world.brand_a.id) as session:
        await exports.run_export(session, UUID(export["id"]), checkpoint=session.commit)
        await session.commit()
    return export
