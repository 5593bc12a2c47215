"""The one public lookup of profiles by the references other domains hold: identity keys and
profile ids (a merged id meaning its survivor).

Events, imports and other domains resolve the people their rows name through these functions,
in bulk: a few statements per call whatever the number of keys (lists are sent in slices, well
below every driver's parameter limit).

Identity keys are ``(kind, value)`` pairs with values as stored: ``(EMAIL, "ada@example.com")``
(normalised), ``(PHONE, "+32470123456")`` (E.164), ``(EXTERNAL + "erp", "C-42")``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.db import among
from backend.profiles import repository, service
from backend.profiles.models import Profile

EMAIL, PHONE, EXTERNAL = service.EMAIL, service.PHONE, service.EXTERNAL
SLICE = 1000

__all__ = [
    "EMAIL",
    "EXTERNAL",
    "PHONE",
    "current_ids",
    "existing_ids",
    "external_key",
    "owners_of_keys",
]


def external_key(source: str, external_id: str) -> tuple[str, str]:
    """The identity key of an id of the person in the system ``source``."""
    return (EXTERNAL + source, external_id)


async def owners_of_keys(
    session: AsyncSession, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], UUID]:
    """The profile holding each identity key; keys nobody holds are absent."""
    unique = sorted(set(keys))
    owners: dict[tuple[str, str], UUID] = {}
    for start in range(0, len(unique), SLICE):
        owners.update(await repository.owners_of_keys(session, unique[start : start + SLICE]))
    return owners


async def existing_ids(session: AsyncSession, profile_ids: Iterable[UUID]) -> set[UUID]:
    """Which of these ids are profiles of the brand now (merged-away ids are not)."""
    unique = sorted(set(profile_ids))
    found: set[UUID] = set()
    for start in range(0, len(unique), SLICE):
        part = unique[start : start + SLICE]
        query = select(Profile.id).where(among(session, Profile.id, part))
        found |= set(await session.scalars(query))
    return found


async def current_ids(session: AsyncSession, profile_ids: Sequence[UUID]) -> dict[UUID, UUID]:
    """The profile each id names now: itself, or the survivor it was merged into. Ids that
    name no profile of the brand (never did, or deleted) are absent. Merged ids are few: only
    they cost a statement each."""
    existing = await existing_ids(session, profile_ids)
    current = {profile_id: profile_id for profile_id in existing}
    for profile_id in sorted(set(profile_ids) - existing):
        survivor = await service.survivor_of(session, profile_id)
        if survivor is not None:
            current[profile_id] = survivor
    return current
