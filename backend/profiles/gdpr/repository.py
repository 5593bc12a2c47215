"""Queries of GDPR requests (scoped to the session's brand like every ORM statement)."""

from __future__ import annotations

from collections.abc import Collection
from uuid import UUID

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.profiles.models import ProfileMerge


async def merged_into(session: AsyncSession, profile_id: UUID) -> set[UUID]:
    """The profile and every id merged into it, directly or through others."""
    found, frontier = {profile_id}, {profile_id}
    while frontier:
        rows = await session.scalars(
            select(ProfileMerge.merged_id).where(ProfileMerge.survivor_id.in_(frontier))
        )
        frontier = set(rows) - found
        found |= frontier
    return found


async def delete_merges_into(session: AsyncSession, survivors: Collection[UUID]) -> None:
    """The merge records whose survivor is one of ``survivors`` (they hold keys in clear)."""
    await session.execute(
        delete(ProfileMerge)
        .where(ProfileMerge.survivor_id.in_(survivors))
        .execution_options(synchronize_session=False)
    )
