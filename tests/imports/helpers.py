"""Helpers of the import tests: upload a file, run the job, read the outcome."""

from __future__ import annotations

import json
from typing import Any

import httpx
from litestar import Litestar

from tests.factories import Person, World, run_jobs
from tests.profiles.helpers import brand_url

CSV = "text/csv"
NDJSON = "application/x-ndjson"


def ndjson(*rows: dict[str, Any]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


async def upload(
    client: httpx.AsyncClient,
    world: World,
    body: str | bytes,
    *,
    kind: str = "profiles",
    content_type: str = CSV,
    person: Person | None = None,
    headers: dict[str, str] | None = None,
    **params: str,
) -> httpx.Response:
    return await client.post(
        brand_url(world, f"/imports/{kind}"),
        content=body.encode() if isinstance(body, str) else body,
        params=params,
        headers={
            **(headers or (person or world.manager_a).headers),
            "content-type": content_type,
        },
    )


async def imported(
    app: Litestar, client: httpx.AsyncClient, world: World, body: str, **kwargs: Any
) -> dict[str, Any]:
    """Upload, run the job, and answer the import's final state."""
    response = await upload(client, world, body, **kwargs)
    assert response.status_code == 202, response.text
    await run_jobs(app)
    return await status(client, world, response.json()["id"])


async def status(client: httpx.AsyncClient, world: World, import_id: str) -> dict[str, Any]:
    response = await client.get(
        brand_url(world, f"/imports/{import_id}"), headers=world.viewer_a.headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def rejections(
    client: httpx.AsyncClient, world: World, import_id: str
) -> list[dict[str, Any]]:
    response = await client.get(
        brand_url(world, f"/imports/{import_id}/rejections"), headers=world.viewer_a.headers
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def profiles(client: httpx.AsyncClient, world: World) -> list[dict[str, Any]]:
    response = await client.get(
        brand_url(world, "/profiles"), params={"limit": 200}, headers=world.viewer_a.headers
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items
