"""The SQL of profile exports and their files' chunks (the brand's session scopes every query to
its tenant)."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.db import utcnow
from backend.core.pagination import PageRequest, paginate
from backend.core.tenancy import TenantId
from backend.profiles.models import ExportChunk, ExportStatus, ProfileExport


async def export_by_id(
    session: AsyncSession, export_id: UUID, *, fresh: bool = False
) -> ProfileExport | None:
    """The export; ``fresh`` reads it as stored now (another transaction may have changed it)."""
    query = select(ProfileExport).where(ProfileExport.id == export_id)
    if fresh:
        query = query.execution_options(populate_existing=True)
    return await session.scalar(query)


async def exports_page(
    session: AsyncSession, page: PageRequest
) -> tuple[list[ProfileExport], str | None]:
    return await paginate(session, select(ProfileExport), ProfileExport.id, page)


async def count_exports(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(ProfileExport)) or 0


async def exports_with_status(
    session: AsyncSession, statuses: Sequence[ExportStatus]
) -> list[ProfileExport]:
    query = select(ProfileExport).where(ProfileExport.status.in_(statuses))
    return list(await session.scalars(query))


async def delete_chunks(session: AsyncSession, export_id: UUID) -> None:
    await session.execute(
        delete(ExportChunk)
        .where(ExportChunk.export_id == export_id)
        .execution_options(synchronize_session=False)
    )


async def insert_chunk(
    session: AsyncSession, tenant: TenantId, export_id: UUID, seq: int, data: bytes
) -> None:
    now = utcnow()
    values = {
        "tenant_id": tenant,
        "export_id": export_id,
        "seq": seq,
        "data": data,
        "created_at": now,
        "updated_at": now,
    }
    await session.execute(insert(ExportChunk).values(values))


async def chunk_data(session: AsyncSession, export_id: UUID, seq: int) -> bytes | None:
    return await session.scalar(
        select(ExportChunk.data).where(ExportChunk.export_id == export_id, ExportChunk.seq == seq)
    )
