"""What an import keeps of the people in its file: the file and rejected rows go after the
retention period and when a person they name is erased; an import's error keeps no text from
the database or the file."""

from __future__ import annotations

import gzip
from typing import Any
from uuid import UUID

import httpx
import msgspec
import pytest
from litestar import Litestar
from sqlalchemy import func, insert, select
from sqlalchemy.exc import DBAPIError

from backend.core.jobs import PERIODIC, TaskContext
from backend.core.outbox import OutboxMessage
from backend.core.tenancy import TenantId
from backend.imports import service
from backend.imports.models import (
    ImportChunk,
    ImportFormat,
    ImportJob,
    ImportKind,
    ImportMode,
    ImportRejection,
    ImportStatus,
)
from backend.imports.tasks import PURGE_BRAND_TASK, PURGE_TASK, purge_brand, purge_expired
from tests.factories import World, make_world, session_of
from tests.imports.helpers import imported, rejections, status
from tests.profiles.helpers import brand_url, create_profile

pytestmark = pytest.mark.worker

FILE = "email,phone,externalIds.erp,firstName\n"


async def _held(app: Litestar, world: World, import_id: str) -> tuple[int, int]:
    """The import's stored chunks and rejected rows."""
    async with session_of(app, world.brand_a.id) as session:
        counts = []
        for model in (ImportChunk, ImportRejection):
            query = select(func.count()).where(model.import_id == UUID(import_id))
            counts.append(int(await session.scalar(query) or 0))
    return counts[0], counts[1]


async def _purge_brand(app: Litestar, world: World, days: int) -> None:
    """The brand's purge task, as the worker runs it, with ``days`` of retention."""
    settings = msgspec.structs.replace(app.state.settings, import_retention_days=days)
    tenant = TenantId(world.brand_a.id)
    async with session_of(app, tenant) as session:
        await purge_brand(TaskContext(session, tenant, settings, "test"))
        await session.commit()


async def test_files_and_rejections_are_purged_after_the_retention_period(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    body = FILE + "lea@example.com,,,Léa\nnot-an-email,,,Bad\n"
    result = await imported(app, client, world, body)
    assert (result["created"], result["rejected"], result["purgedAt"]) == (1, 1, None)
    assert await _held(app, world, result["id"]) == (1, 1)
    await _purge_brand(app, world, days=30)  # ended just now: kept
    assert await _held(app, world, result["id"]) == (1, 1)
    await _purge_brand(app, world, days=0)
    assert await _held(app, world, result["id"]) == (0, 0)
    after = await status(client, world, result["id"])
    assert after["purgedAt"] is not None
    assert (after["created"], after["rejected"], after["rowsProcessed"]) == (1, 1, 2)
    assert await rejections(client, world, result["id"]) == []


async def test_the_hourly_purge_fans_out_to_every_brand(app: Litestar) -> None:
    world = await make_world(app)
    assert PURGE_TASK in PERIODIC
    async with session_of(app) as session:
        await purge_expired(TaskContext(session, None, app.state.settings, "test"))
        await session.flush()
        sent = await session.scalars(
            select(OutboxMessage.kwargs).where(OutboxMessage.task_name == PURGE_BRAND_TASK)
        )
        brands = {kwargs["tenant_id"] for kwargs in sent}
        await session.rollback()
    assert {str(world.brand_a.id), str(world.brand_b.id)} <= brands


ERASED_NAMED_AS = [
    # (how the file names the erased person, which profile fields they were created with)
    ("email-other-case", "LEA@Example.COM,,,Léa\n", {"email": "lea@example.com"}),
    ("phone-national-spaced", ',"06 12 34 56 78",,Léa\n', {"phone": "+33612345678"}),
    ("phone-e164", ",+33612345678,,Léa\n", {"phone": "+33612345678"}),
    (
        "external-id",
        ",,ERP-4242,Léa\n",
        {"externalIds": [{"source": "erp", "id": "ERP-4242"}]},
    ),
    ("rejected-line", "lea@example.com,not-a-phone,,Léa\n", {"email": "lea@example.com"}),
]


@pytest.mark.parametrize(
    ("name", "line", "fields"), ERASED_NAMED_AS, ids=[c[0] for c in ERASED_NAMED_AS]
)
async def test_erasing_a_person_purges_the_import_files_naming_them(
    app: Litestar,
    client: httpx.AsyncClient,
    name: str,
    line: str,
    fields: dict[str, Any],
) -> None:
    world = await make_world(app)
    lea = await create_profile(client, world, **fields)
    naming = await imported(
        app, client, world, gzip.compress((FILE + line + "bob@example.com,,,Bob\n").encode())
    )
    other = await imported(app, client, world, FILE + "zoe@example.com,+33698765432,,Zoé\n")
    assert naming["status"] == other["status"] == "succeeded"
    erased = await client.post(
        brand_url(world, f"/profiles/{lea['id']}/erase"),
        json={"reason": "request by email"},
        headers=world.manager_a.headers,
    )
    assert erased.status_code in (200, 202, 204), erased.text
    assert await _held(app, world, naming["id"]) == (0, 0), name
    after = await status(client, world, naming["id"])
    assert after["purgedAt"] is not None
    assert (after["status"], after["rowsProcessed"]) == ("succeeded", 2)
    assert (await _held(app, world, other["id"]))[0] == 1
    assert (await status(client, world, other["id"]))["purgedAt"] is None


async def test_erasure_stops_a_queued_import_naming_the_person(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    lea = await create_profile(client, world, email="lea@example.com")
    tenant = TenantId(world.brand_a.id)
    # An import written straight into the brand's tables, its job not sent: still queued.
    async with session_of(app, tenant) as session:
        job = ImportJob(
            kind=ImportKind.PROFILES,
            format=ImportFormat.CSV,
            mode=ImportMode.UPSERT,
            status=ImportStatus.QUEUED,
            mapping={},
            encoding="utf-8",
            delimiter=",",
            chunk_count=1,
        )
        session.add(job)
        await session.flush()
        await session.execute(
            insert(ImportChunk).values(
                tenant_id=tenant, import_id=job.id, seq=0, data=b"email\nlea@example.com\n"
            )
        )
        await session.commit()
        import_id = str(job.id)
    erased = await client.post(
        brand_url(world, f"/profiles/{lea['id']}/erase"),
        json={"reason": "request"},
        headers=world.manager_a.headers,
    )
    assert erased.status_code in (200, 202, 204), erased.text
    after = await status(client, world, import_id)
    assert after["status"] == "failed"
    assert "erased" in after["error"]
    assert await _held(app, world, import_id) == (0, 0)


async def test_an_import_error_keeps_no_database_text_nor_personal_data(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    result = await imported(app, client, world, FILE + "lea@example.com,,,Léa\n")
    tenant = TenantId(world.brand_a.id)
    import_id = UUID(result["id"])
    # A real database error whose message carries the SQL and a customer's email.
    async with session_of(app, tenant) as session:
        row = {"tenant_id": tenant, "import_id": import_id, "line": 9, "reason": "r"}
        await session.execute(insert(ImportRejection).values(**row, raw="lea@example.com"))
        with pytest.raises(DBAPIError) as caught:
            await session.execute(insert(ImportRejection).values(**row, raw="lea@example.com"))
        assert "import_rejections" in str(caught.value)  # the SQL (and, unhidden, parameters)
        await session.rollback()
        await service.record_failure(session, import_id, caught.value, final=True)
        await session.commit()
    error = (await status(client, world, result["id"]))["error"]
    assert "database error" in error
    assert "IntegrityError" in error
    for leaked in ("lea@example.com", "INSERT", "import_rejections", "parameters"):
        assert leaked not in error
