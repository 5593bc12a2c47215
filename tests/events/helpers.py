"""Helpers of the event tests: sending events and reading them back through the API."""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import Person, World
from tests.profiles.helpers import brand_url


def event(event_id: str, name: str = "page_viewed", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"eventId": event_id, "name": name}
    body.update(fields)
    return body


async def send(
    client: httpx.AsyncClient, world: World, body: dict[str, Any], person: Person | None = None
) -> httpx.Response:
    return await client.post(
        brand_url(world, "/events"), json=body, headers=(person or world.manager_a).headers
    )


async def send_batch(
    client: httpx.AsyncClient,
    world: World,
    events: list[dict[str, Any]],
    person: Person | None = None,
) -> dict[str, Any]:
    response = await client.post(
        brand_url(world, "/events/batch"),
        json={"events": events},
        headers=(person or world.manager_a).headers,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def events_of(
    client: httpx.AsyncClient, world: World, query: str = ""
) -> list[dict[str, Any]]:
    response = await client.get(brand_url(world, f"/events{query}"), headers=world.viewer_a.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def set_settings(client: httpx.AsyncClient, world: World, **body: Any) -> None:
    response = await client.patch(
        brand_url(world, "/event-settings"), json=body, headers=world.manager_a.headers
    )
    assert response.status_code == 200, response.text
