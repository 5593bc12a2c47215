"""Profile exports: a job writes the file in chunks, the API reports its status and streams it."""

from __future__ import annotations

import csv
import io
import json
from uuid import UUID

import httpx
import pytest
from litestar import Litestar

from backend.profiles.exports import service as exports
from backend.profiles.models import ExportStatus
from tests.factories import make_world, problem, run_jobs, session_of
from tests.profiles.helpers import (
    brand_url,
    create_profile,
    define_attribute,
    fields_of,
    request_export,
)


@pytest.mark.worker
async def test_a_csv_export_holds_every_profile_with_attributes(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await define_attribute(client, world, key="tier", type="enum", options=["gold", "silver"])
    await create_profile(client, world, email="ada@example.com", attributes={"tier": "gold"})
    await create_profile(
        client, world, email="bob@example.com", externalIds=[{"source": "erp", "id": "7"}]
    )
    export = await request_export(client, world, format="csv")
    assert export["status"] == "queued"
    await run_jobs(app)
    status = await client.get(
        brand_url(world, f"/exports/{export['id']}"), headers=world.viewer_a.headers
    )
    assert status.json()["status"] == "succeeded"
    assert status.json()["rowCount"] == 2
    download = await client.get(
        brand_url(world, f"/exports/{export['id']}/download"), headers=world.viewer_a.headers
    )
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    assert f"profiles-{export['id']}.csv" in download.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert [(r["email"], r["attributes.tier"], r["externalIds"]) for r in rows] == [
        ("ada@example.com", "gold", ""),
        ("bob@example.com", "", "erp:7"),
    ]


@pytest.mark.worker
async def test_an_ndjson_export_keeps_only_the_filtered_profiles_and_fields(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await create_profile(client, world, email="ada@example.com", country="BE")
    await create_profile(client, world, email="bob@example.com", country="FR")
    export = await request_export(
        client, world, format="ndjson", filter={"country": "be"}, fields=["email", "country"]
    )
    await run_jobs(app)
    download = await client.get(
        brand_url(world, f"/exports/{export['id']}/download"), headers=world.viewer_a.headers
    )
    assert download.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in download.text.splitlines()]
    assert lines == [{"email": "ada@example.com", "country": "BE"}]


@pytest.mark.worker
async def test_an_export_larger_than_a_chunk_is_stored_in_several_and_streamed_whole(
    app: Litestar, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exports, "CHUNK_BYTES", 64)  # small pieces, not a test double
    monkeypatch.setattr(exports, "BATCH", 2)
    world = await make_world(app)
    for index in range(5):
        await create_profile(client, world, email=f"person{index}@example.com")
    export = await request_export(client, world, format="csv", fields=["email"])
    await run_jobs(app)
    status = (
        await client.get(
            brand_url(world, f"/exports/{export['id']}"), headers=world.viewer_a.headers
        )
    ).json()
    assert status["byteCount"] > 64
    download = await client.get(
        brand_url(world, f"/exports/{export['id']}/download"), headers=world.viewer_a.headers
    )
    assert download.text.split("\r\n")[:-1] == ["email"] + [
        f"person{i}@example.com" for i in range(5)
    ]
    assert len(download.content) == status["byteCount"]


async def test_a_queued_export_cannot_be_downloaded_yet(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    export = await request_export(client, world, format="csv")
    response = await client.get(
        brand_url(world, f"/exports/{export['id']}/download"), headers=world.viewer_a.headers
    )
    problem(response, 409)


async def test_an_unknown_field_or_bad_filter_is_named(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await client.post(
        brand_url(world, "/exports/profiles"),
        json={"format": "csv", "fields": ["email", "shoeSize"], "filter": {"country": "XX"}},
        headers=world.manager_a.headers,
    )
    assert fields_of(problem(response, 422)) == ["filter.country"]
    response = await client.post(
        brand_url(world, "/exports/profiles"),
        json={"format": "csv", "fields": ["email", "shoeSize"]},
        headers=world.manager_a.headers,
    )
    assert fields_of(problem(response, 422)) == ["fields[1]"]


async def test_a_bad_format_is_refused(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    response = await client.post(
        brand_url(world, "/exports/profiles"),
        json={"format": "xlsx"},
        headers=world.manager_a.headers,
    )
    assert fields_of(problem(response, 422)) == ["format"]


@pytest.mark.worker
async def test_an_interrupted_export_run_again_writes_one_whole_file(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await create_profile(client, world, email="ada@example.com")
    export = await request_export(client, world, format="csv", fields=["email"])
    await run_jobs(app)
    export_id = UUID(export["id"])
    async with session_of(app, world.brand_a.id) as session:
        # As if the worker died mid-way and the message came again.
        stored = await exports.get_export(session, export_id)
        stored.status = ExportStatus.RUNNING
        await session.commit()
        await exports.run_export(session, export_id, checkpoint=session.commit)
        await session.commit()
    download = await client.get(
        brand_url(world, f"/exports/{export['id']}/download"), headers=world.viewer_a.headers
    )
    assert download.text == "email\r\nada@example.com\r\n"
