"""Campaigns and scenarios name a program: an unknown one is refused where it is named, and a
program they name is archived, not deleted, so what names it keeps pointing somewhere."""

from __future__ import annotations

from uuid import uuid4

import httpx
import pytest
from litestar import Litestar

from tests.campaigns.helpers import Brand, campaign_body, ready_brand
from tests.programs.helpers import create_program, programs_url
from tests.scenarios.helpers import EXIT, entry

SCENARIO_GRAPH = {"nodes": [entry("done"), EXIT]}


async def _name_program(
    client: httpx.AsyncClient, brand: Brand, kind: str, program_id: str
) -> httpx.Response:
    """Create a campaign or a scenario of ``brand`` naming the program."""
    if kind == "campaign":
        body = campaign_body(brand, programId=program_id)
    else:
        body = {"name": "Journey", "graph": SCENARIO_GRAPH, "programId": program_id}
    return await client.post(brand.url(f"/{kind}s"), json=body, headers=brand.headers)


@pytest.mark.parametrize("kind", ["campaign", "scenario"])
async def test_an_unknown_program_is_refused_where_it_is_named(
    app: Litestar, client: httpx.AsyncClient, kind: str
) -> None:
    brand = await ready_brand(app, client, members=1)
    response = await _name_program(client, brand, kind, str(uuid4()))
    assert response.status_code == 422, response.text
    problem = response.json()
    assert [e["pointer"] for e in problem["errors"]] == ["/programId"]
    listed = await client.get(brand.url(f"/{kind}s"), headers=brand.headers)
    assert listed.json()["items"] == []  # nothing stored


@pytest.mark.parametrize("kind", ["campaign", "scenario"])
async def test_a_program_something_names_is_archived_not_deleted(
    app: Litestar, client: httpx.AsyncClient, kind: str
) -> None:
    brand = await ready_brand(app, client, members=1)
    world = brand.world
    program = await create_program(client, world)
    named = await _name_program(client, brand, kind, program["id"])
    assert named.status_code == 201, named.text
    assert named.json()["programId"] == program["id"]

    url = programs_url(world.brand_a.id, f"/{program['id']}")
    deleted = await client.delete(url, headers=world.manager_a.headers)
    assert deleted.status_code == 204, deleted.text
    kept = await client.get(url, headers=world.manager_a.headers)
    assert kept.status_code == 200, kept.text
    assert kept.json()["archivedAt"] is not None
    # An archived program takes nothing new.
    again = await _name_program(client, brand, kind, program["id"])
    assert again.status_code in (409, 422), again.text


async def test_a_program_nothing_names_is_deleted(app: Litestar, client: httpx.AsyncClient) -> None:
    brand = await ready_brand(app, client, members=1)
    world = brand.world
    program = await create_program(client, world)
    url = programs_url(world.brand_a.id, f"/{program['id']}")
    assert (await client.delete(url, headers=world.manager_a.headers)).status_code == 204
    assert (await client.get(url, headers=world.manager_a.headers)).status_code == 404
