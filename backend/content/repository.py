"""Queries of templates, versions and snippets."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.content.models import ContentTemplate, Snippet, TemplateVersion
from backend.core.pagination import PageRequest, count_rows, paginate

_LIVE = ContentTemplate.archived_at.is_(None)


async def list_templates(
    session: AsyncSession, page: PageRequest
) -> tuple[list[ContentTemplate], str | None]:
    """Live templates only (a deleted one is archived, kept for the messages naming it)."""
    return await paginate(session, select(ContentTemplate).where(_LIVE), ContentTemplate.id, page)


async def count_templates(session: AsyncSession) -> int:
    return await count_rows(session, select(ContentTemplate).where(_LIVE))


async def get_template(session: AsyncSession, template_id: UUID) -> ContentTemplate | None:
    return await session.scalar(select(ContentTemplate).where(ContentTemplate.id == template_id))


async def template_by_key(session: AsyncSession, key: str) -> ContentTemplate | None:
    """The live template of this key (an archived one freed it)."""
    return await session.scalar(select(ContentTemplate).where(ContentTemplate.key == key, _LIVE))


async def published(
    session: AsyncSession, template_id: UUID
) -> tuple[ContentTemplate, TemplateVersion | None] | None:
    """The template and its published version, in one query."""
    query = (
        select(ContentTemplate, TemplateVersion)
        .outerjoin(
            TemplateVersion,
            (TemplateVersion.tenant_id == ContentTemplate.tenant_id)
            & (TemplateVersion.id == ContentTemplate.current_version_id),
        )
        .where(ContentTemplate.id == template_id)
    )
    row = (await session.execute(query)).first()
    return None if row is None else (row[0], row[1])


async def published_many(
    session: AsyncSession, template_ids: Collection[UUID]
) -> dict[UUID, tuple[ContentTemplate, TemplateVersion | None]]:
    """Templates and their published versions, in one query."""
    if not template_ids:
        return {}
    query = (
        select(ContentTemplate, TemplateVersion)
        .outerjoin(
            TemplateVersion,
            (TemplateVersion.tenant_id == ContentTemplate.tenant_id)
            & (TemplateVersion.id == ContentTemplate.current_version_id),
        )
        .where(ContentTemplate.id.in_(list(template_ids)))
    )
    return {row[0].id: (row[0], row[1]) for row in await session.execute(query)}


async def pinned_many(
    session: AsyncSession, version_ids: Collection[UUID]
) -> dict[UUID, tuple[ContentTemplate, TemplateVersion]]:
    """Saved versions by id with their templates, in one query (archived templates too)."""
    if not version_ids:
        return {}
    query = (
        select(ContentTemplate, TemplateVersion)
        .join(
            TemplateVersion,
            (TemplateVersion.tenant_id == ContentTemplate.tenant_id)
            & (TemplateVersion.template_id == ContentTemplate.id),
        )
        .where(TemplateVersion.id.in_(list(version_ids)))
    )
    return {row[1].id: (row[0], row[1]) for row in await session.execute(query)}


async def list_versions(
    session: AsyncSession, template_id: UUID, page: PageRequest
) -> tuple[list[TemplateVersion], str | None]:
    query = select(TemplateVersion).where(TemplateVersion.template_id == template_id)
    return await paginate(session, query, TemplateVersion.id, page)


async def count_versions(session: AsyncSession, template_id: UUID) -> int:
    query = select(TemplateVersion).where(TemplateVersion.template_id == template_id)
    return await count_rows(session, query)


async def get_version(
    session: AsyncSession, template_id: UUID, version: int
) -> TemplateVersion | None:
    return await session.scalar(
        select(TemplateVersion).where(
            TemplateVersion.template_id == template_id, TemplateVersion.version == version
        )
    )


async def version_by_id(session: AsyncSession, version_id: UUID) -> TemplateVersion | None:
    return await session.scalar(select(TemplateVersion).where(TemplateVersion.id == version_id))


async def list_snippets(
    session: AsyncSession, page: PageRequest
) -> tuple[list[Snippet], str | None]:
    return await paginate(session, select(Snippet), Snippet.id, page)


async def count_snippets(session: AsyncSession) -> int:
    return await count_rows(session, select(Snippet))


async def get_snippet(session: AsyncSession, snippet_id: UUID) -> Snippet | None:
    return await session.scalar(select(Snippet).where(Snippet.id == snippet_id))


async def snippets_by_key(session: AsyncSession, keys: Sequence[str]) -> dict[str, Snippet]:
    if not keys:
        return {}
    rows = await session.scalars(select(Snippet).where(Snippet.key.in_(keys)))
    return {s.key: s for s in rows}


async def delete(session: AsyncSession, row: object) -> None:
    await session.delete(row)
    await session.flush()
