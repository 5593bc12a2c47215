"""A job killed midway restarts after its last committed batch, without duplicating anything."""

from __future__ import annotations

from uuid import UUID

import httpx
from litestar import Litestar
from sqlalchemy import func, select

from backend.core.jobs import TaskContext
from backend.core.tenancy import TenantId
from backend.imports import service
from backend.imports.tasks import run_import
from backend.profiles.models import LinkedRow, LinkedRowVersion, Profile, ProfileIdentity
from tests.factories import make_world, session_of
from tests.imports.helpers import rejections, status, upload
from tests.profiles.helpers import create_profile, define_table

ROWS = 7


def body() -> str:
    lines = [f"p{i}@example.com,P{i}" for i in range(ROWS)]
    lines[3] = "broken,P3"  # a rejection inside the replayed part
    return "email,firstName\n" + "\n".join(lines) + "\n"


async def counts(app: Litestar, brand_id: object) -> tuple[int, int]:
    async with session_of(app, brand_id) as session:  # type: ignore[arg-type]
        profiles = await session.scalar(select(func.count()).select_from(Profile))
        keys = await session.scalar(select(func.count()).select_from(ProfileIdentity))
    return int(profiles or 0), int(keys or 0)


async def rerun_task(app: Litestar, tenant: TenantId, import_id: UUID) -> None:
    """What a redelivered message does: the task, in a session of its own, then commit."""
    async with session_of(app, tenant) as session:
        context = TaskContext(session, tenant, app.state.settings, "redelivered")
        await run_import(context, import_id=str(import_id))
        await session.commit()


async def test_import_killed_midway_resumes_without_duplicates(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    tenant = TenantId(world.brand_a.id)
    response = await upload(client, world, body())
    import_id = UUID(response.json()["id"])
    # A first worker commits two batches of two rows, then dies inside the third.
    async with session_of(app, tenant) as session:
        assert await service.start(session, import_id)
        await session.commit()
        batches = service.run_batches(session, tenant, import_id, batch_size=2)
        for _ in range(2):
            await anext(batches)
            await session.commit()
        await anext(batches)  # written, never committed: the kill
        await session.rollback()
        await batches.aclose()
    middle = await status(client, world, str(import_id))
    assert (middle["status"], middle["rowsProcessed"], middle["created"]) == ("running", 4, 3)
    # The message is delivered again: the task resumes from the checkpoint.
    await rerun_task(app, tenant, import_id)
    final = await status(client, world, str(import_id))
    assert (final["status"], final["rowsProcessed"]) == ("succeeded", ROWS)
    assert (final["created"], final["rejected"]) == (ROWS - 1, 1)
    assert await counts(app, world.brand_a.id) == (ROWS - 1, ROWS - 1)
    assert [r["line"] for r in await rejections(client, world, str(import_id))] == [5]


async def test_running_a_finished_import_again_changes_nothing(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await upload(client, world, body())
    tenant, import_id = TenantId(world.brand_a.id), UUID(response.json()["id"])
    await rerun_task(app, tenant, import_id)
    before = await status(client, world, response.json()["id"])
    await rerun_task(app, tenant, import_id)
    assert await status(client, world, response.json()["id"]) == before
    assert await counts(app, world.brand_a.id) == (ROWS - 1, ROWS - 1)


async def test_linked_import_killed_midway_resumes_without_duplicates(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    tenant = TenantId(world.brand_a.id)
    await create_profile(client, world, email="ada@example.com")
    await define_table(client, world, key="points", columns=[{"key": "amount", "type": "number"}])
    # Keyless rows: only the checkpoint stops a replayed batch from adding them twice.
    lines = [f"ada@example.com,{i}" for i in range(ROWS)]
    lines[3] = "ada@example.com,many"
    response = await upload(
        client, world, "email,amount\n" + "\n".join(lines) + "\n", kind="linked/points"
    )
    import_id = UUID(response.json()["id"])
    async with session_of(app, tenant) as session:
        assert await service.start(session, import_id)
        await session.commit()
        batches = service.run_batches(session, tenant, import_id, batch_size=2)
        for _ in range(2):
            await anext(batches)
            await session.commit()
        await anext(batches)  # written, never committed: the kill
        await session.rollback()
        await batches.aclose()
    await rerun_task(app, tenant, import_id)
    final = await status(client, world, str(import_id))
    assert (final["status"], final["created"], final["rejected"]) == ("succeeded", ROWS - 1, 1)
    async with session_of(app, world.brand_a.id) as session:
        amounts = (await session.scalars(select(LinkedRow.values))).all()
        versions = await session.scalar(select(func.count()).select_from(LinkedRowVersion))
    assert sorted(v["amount"] for v in amounts) == [0, 1, 2, 4, 5, 6]
    assert versions == ROWS - 1
    assert [r["line"] for r in await rejections(client, world, str(import_id))] == [5]
