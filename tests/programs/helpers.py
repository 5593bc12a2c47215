"""Helpers of the program tests: URLs, a valid body, and writes through REST."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx

from tests.factories import Person, World

KPI = {"name": "Opens", "metric": "open_rate", "target": 40, "unit": "percent"}


def programs_url(brand_id: UUID | str, path: str = "") -> str:
    return f"/v1/brands/{brand_id}/programs{path}"


def templates_url(brand_id: UUID | str, path: str = "") -> str:
    return f"/v1/brands/{brand_id}/program-templates{path}"


def program_body(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Welcome",
        "objective": "Welcome each new sign-up.",
        "stage": "engage",
        "kpis": [KPI],
        "momentsOfTruth": ["signup"],
    }
    body.update(fields)
    return body


async def create_program(
    client: httpx.AsyncClient, world: World, person: Person | None = None, **fields: Any
) -> dict[str, Any]:
    response = await client.post(
        programs_url(world.brand_a.id),
        json=program_body(**fields),
        headers=(person or world.manager_a).headers,
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def change_status(
    client: httpx.AsyncClient, world: World, program_id: str, action: str
) -> httpx.Response:
    return await client.post(
        programs_url(world.brand_a.id, f"/{program_id}/{action}"),
        headers=world.manager_a.headers,
    )
