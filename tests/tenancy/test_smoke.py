from __future__ import annotations

import httpx
import pytest
from litestar import Litestar

from tests.factories import make_world, problem, run_jobs


async def test_world_owner_reads_own_brand_and_not_other(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await client.get(f"/v1/brands/{world.brand_a.id}", headers=world.owner_a.headers)
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Brand A"
    problem(await client.get(f"/v1/brands/{world.brand_b.id}", headers=world.owner_a.headers), 404)


@pytest.mark.worker
async def test_created_brand_is_provisioned_by_job(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await client.post(
        f"/v1/agencies/{world.agency_a.id}/brands",
        json={"name": "New"},
        headers=world.owner_a.headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "provisioning"
    await run_jobs(app)
    response = await client.get(
        f"/v1/brands/{response.json()['id']}", headers=world.owner_a.headers
    )
    assert response.json()["status"] == "active"
