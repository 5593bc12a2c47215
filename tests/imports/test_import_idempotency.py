"""`Idempotency-Key` on uploads: honoured by the import itself, so a file above the buffered
request limit still gets it (a retry answers the first import; another file, 409)."""

from __future__ import annotations

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import func, select

from backend.config import Settings
from backend.imports.models import ImportChunk, ImportJob
from tests.factories import make_world, problem, session_of
from tests.imports.helpers import upload

LIMIT = 1000  # the buffered-body limit of these tests


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.replace(max_body_bytes=LIMIT)


def big_file(marker: str) -> str:
    body = "email,firstName\n" + "".join(f"p{i}@example.com,{marker}\n" for i in range(200))
    assert len(body) > LIMIT
    return body


async def stored(app: Litestar, brand_id: object) -> tuple[int, int]:
    async with session_of(app, brand_id) as session:  # type: ignore[arg-type]
        jobs = await session.scalar(select(func.count()).select_from(ImportJob))
        chunks = await session.scalar(select(func.count()).select_from(ImportChunk))
    return int(jobs or 0), int(chunks or 0)


async def test_a_retried_upload_above_the_body_limit_answers_the_first_import(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    headers = {**world.manager_a.headers, "Idempotency-Key": "upload-1"}
    first = await upload(client, world, big_file("A"), headers=headers)
    assert first.status_code == 202, first.text
    again = await upload(client, world, big_file("A"), headers=headers)
    assert again.status_code == 202, again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert await stored(app, world.brand_a.id) == (1, 1)


async def test_the_same_key_with_another_file_or_mode_answers_409(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    headers = {**world.manager_a.headers, "Idempotency-Key": "upload-2"}
    assert (await upload(client, world, big_file("A"), headers=headers)).status_code == 202
    other = await upload(client, world, big_file("B"), headers=headers)
    assert problem(other, 409)["errors"][0]["field"] == "Idempotency-Key"
    mode = await upload(client, world, big_file("A"), headers=headers, mode="create")
    problem(mode, 409)
    assert await stored(app, world.brand_a.id) == (1, 1)


async def test_keys_are_per_brand(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    body = big_file("A")
    key = {"Idempotency-Key": "shared"}
    mine = await upload(client, world, body, headers={**world.manager_a.headers, **key})
    theirs = await client.post(
        f"/v1/brands/{world.brand_b.id}/imports/profiles",
        content=body.encode(),
        headers={**world.owner_b.headers, **key, "content-type": "text/csv"},
    )
    assert (mine.status_code, theirs.status_code) == (202, 202), theirs.text
    assert mine.json()["id"] != theirs.json()["id"]


async def test_without_a_key_a_large_upload_is_taken_as_before(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    first = await upload(client, world, big_file("A"))
    second = await upload(client, world, big_file("A"))
    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json()["id"] != second.json()["id"]
