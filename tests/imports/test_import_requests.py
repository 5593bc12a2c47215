"""Upload requests: who may import, content types, limits, and refusals that store nothing."""

from __future__ import annotations

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import func, select

from backend.config import Settings
from backend.imports.models import ImportChunk, ImportJob
from tests.factories import make_world, problem, session_of
from tests.imports.helpers import imported, upload
from tests.profiles.helpers import brand_url, fields_of


async def stored_imports(app: Litestar, brand_id: object) -> tuple[int, int]:
    async with session_of(app, brand_id) as session:  # type: ignore[arg-type]
        jobs = await session.scalar(select(func.count()).select_from(ImportJob))
        chunks = await session.scalar(select(func.count()).select_from(ImportChunk))
    return int(jobs or 0), int(chunks or 0)


async def test_upload_answers_202_with_the_import_and_its_location(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await upload(client, world, "email\nada@example.com\n")
    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["status"], body["kind"], body["mode"]) == ("queued", "profiles", "upsert")
    assert response.headers["location"] == brand_url(world, f"/imports/{body['id']}")
    assert await stored_imports(app, world.brand_a.id) == (1, 1)


async def test_wrong_content_type_answers_415(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    response = await upload(client, world, '{"email": "a@b.c"}', content_type="application/json")
    problem(response, 415)
    assert await stored_imports(app, world.brand_a.id) == (0, 0)


async def test_empty_body_is_refused_and_nothing_is_stored(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    assert fields_of(problem(await upload(client, world, ""), 422)) == ["body"]
    assert await stored_imports(app, world.brand_a.id) == (0, 0)


async def test_malformed_mapping_is_refused(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    response = await upload(client, world, "email\na@b.co\n", mapping="{not json")
    assert fields_of(problem(response, 422)) == ["mapping"]
    assert await stored_imports(app, world.brand_a.id) == (0, 0)


async def test_unknown_target_column_is_named_and_nothing_is_stored(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await upload(client, world, "email,shoeSize,attributes.nope\na@b.co,42,x\n")
    assert fields_of(problem(response, 422)) == ["shoeSize", "attributes.nope"]
    assert await stored_imports(app, world.brand_a.id) == (0, 0)


async def test_unknown_mapping_target_is_named(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    response = await upload(client, world, "Mail\na@b.co\n", mapping='{"Mail": "mail"}')
    assert fields_of(problem(response, 422)) == ["mapping.Mail"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.replace(import_max_bytes=64)


async def test_body_above_the_import_limit_answers_413_and_stores_nothing(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    body = "email\n" + "someone@example.com\n" * 10

    async def chunks():  # type: ignore[no-untyped-def]
        yield body.encode()  # streamed: no Content-Length announced

    response = await client.post(
        brand_url(world, "/imports/profiles"),
        content=chunks(),
        headers={**world.manager_a.headers, "content-type": "text/csv"},
    )
    problem(response, 413)
    problem(await upload(client, world, body), 413)
    assert await stored_imports(app, world.brand_a.id) == (0, 0)


async def test_another_brand_answers_404_on_every_import_route(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    own = await upload(client, world, "email\na@b.co\n", person=world.owner_b)
    problem(own, 404)
    other = f"/v1/brands/{world.brand_b.id}/imports"
    for method, path in (
        ("POST", "/profiles"),
        ("POST", "/orders"),
        ("GET", "/01a20d85-e2eb-78a6-aa55-b28d88104b43"),
        ("GET", "/01a20d85-e2eb-78a6-aa55-b28d88104b43/rejections"),
        ("GET", "/01a20d85-e2eb-78a6-aa55-b28d88104b43/rejections.csv"),
    ):
        response = await client.request(
            method,
            other + path,
            content=b"email\n",
            headers={**world.owner_a.headers, "content-type": "text/csv"},
        )
        problem(response, 404)


@pytest.mark.worker
async def test_an_import_of_one_brand_is_not_found_from_another(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    result = await imported(app, client, world, "email\nbad\n")
    for path in ("", "/rejections", "/rejections.csv"):
        response = await client.get(
            f"/v1/brands/{world.brand_b.id}/imports/{result['id']}{path}",
            headers=world.owner_b.headers,
        )
        problem(response, 404)
