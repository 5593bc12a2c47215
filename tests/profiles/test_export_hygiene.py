"""Export hygiene: CSV cells cannot run as spreadsheet formulas, files expire after their time
to live (a due task purges them), and erasing a person expires every export that may hold them."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
from litestar import Litestar
from sqlalchemy import select

from backend.app import create_app
from backend.config import Settings
from backend.core.db import utcnow
from backend.core.due_work import claim_due
from backend.profiles.models import ExportChunk
from tests.factories import World, make_world, problem, run_jobs, serving, session_of
from tests.profiles.helpers import (
    brand_url,
    create_profile,
    define_attribute,
    finished_export,
    request_export,
)


async def export_state(client: httpx.AsyncClient, world: World, export_id: str) -> dict[str, Any]:
    response = await client.get(
        brand_url(world, f"/exports/{export_id}"), headers=world.viewer_a.headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def stored_chunks(app: Litestar, world: World) -> list[bytes]:
    async with session_of(app, world.brand_a.id) as session:
        return list((await session.scalars(select(ExportChunk.data))).all())


async def download(client: httpx.AsyncClient, world: World, export_id: str) -> httpx.Response:
    return await client.get(
        brand_url(world, f"/exports/{export_id}/download"), headers=world.viewer_a.headers
    )


async def test_csv_cells_that_start_like_a_formula_are_neutralised(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await define_attribute(client, world, key="note", type="text")
    dangerous = {
        "firstName": '=HYPERLINK("http://evil.test","x")',
        "lastName": "@SUM(1+1)",
        "preferredStore": "-2+3+cmd|' /C calc'!A0",
        "attributes": {"note": "+1+cmd"},
    }
    await create_profile(client, world, email="ada@example.com", phone="+32470123456", **dangerous)
    await create_profile(client, world, email="bob@example.com", firstName="\tTab", lastName="\rCr")
    export = await finished_export(app, client, world)
    response = await download(client, world, export["id"])
    assert response.status_code == 200, response.text
    ada, bob = list(csv.DictReader(io.StringIO(response.text, newline="")))
    assert ada["firstName"] == '\'=HYPERLINK("http://evil.test","x")'
    assert ada["lastName"] == "'@SUM(1+1)"
    assert ada["preferredStore"] == "'-2+3+cmd|' /C calc'!A0"
    assert ada["attributes.note"] == "'+1+cmd"
    assert ada["phone"] == "+32470123456"  # a plain number runs nothing: kept as is
    assert (bob["firstName"], bob["lastName"]) == ("'\tTab", "'\rCr")


async def test_an_export_past_its_time_to_live_is_purged_by_its_due_task(
    settings: Settings,
) -> None:
    # A time to live of zero: the export expires as soon as it is written.
    app = create_app(settings.replace(export_ttl_hours=0, embedded_worker=True))
    async with serving(app) as client:
        await _expires_after_its_time_to_live(app, client)
    await app.state.engine.dispose()


async def _expires_after_its_time_to_live(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    await create_profile(client, world, email="ada@example.com")
    export = await request_export(client, world, format="csv")
    await run_jobs(app)
    # Past its time already: the API says so before the purge has run.
    state = await export_state(client, world, export["id"])
    assert (state["status"], state["expiredReason"]) == ("expired", "its time to live passed")
    assert problem(await download(client, world, export["id"]), 410)["type"].endswith("gone")
    assert await stored_chunks(app, world) != []
    async with session_of(app) as session:  # the scheduler's round
        assert await claim_due(session, utcnow()) == 1
        await session.commit()
    await run_jobs(app)
    assert await stored_chunks(app, world) == []
    state = await export_state(client, world, export["id"])
    assert (state["status"], state["expiredReason"]) == ("expired", "its time to live passed")


async def test_erasing_a_person_expires_every_export_that_may_hold_them(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    ada = await create_profile(client, world, email="ada@example.com")
    await create_profile(client, world, email="bob@example.com")
    first = await finished_export(app, client, world)
    second = await finished_export(app, client, world)
    assert b"ada@example.com" in b"".join(await stored_chunks(app, world))
    erased = await client.post(
        brand_url(world, f"/profiles/{ada['id']}/erase"), headers=world.manager_a.headers
    )
    assert erased.status_code == 200, erased.text
    for export in (first, second):
        state = await export_state(client, world, export["id"])
        assert (state["status"], state["expiredReason"]) == (
            "expired",
            "a person it may hold was erased",
        )
        problem(await download(client, world, export["id"]), 410)
    assert b"ada@example.com" not in b"".join(await stored_chunks(app, world))
    # A new export is written without the erased person, and can be downloaded.
    fresh = await finished_export(app, client, world)
    response = await download(client, world, fresh["id"])
    assert response.status_code == 200, response.text
    assert "bob@example.com" in response.text
    assert "ada@example.com" not in response.text
