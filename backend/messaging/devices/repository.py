"""SQL of push devices."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.db import insert_for
from backend.core.pagination import PageRequest, count_rows, paginate
from backend.messaging.devices.models import PushDevice

# What registering a known token or endpoint again changes (its key and first sighting stay).
_REFRESHED = (
    "profile_id",
    "p256dh",
    "auth",
    "app_id",
    "platform",
    "label",
    "last_seen_at",
    "updated_at",
)


async def upsert(session: AsyncSession, values: dict[str, Any]) -> UUID:
    """Insert the device, or refresh the brand's device with the same token key, in one
    statement (concurrent registrations of one token meet on the unique key); its id."""
    statement = insert_for(session, PushDevice).values(values)
    statement = statement.on_conflict_do_update(
        index_elements=["tenant_id", "token_key"],
        set_={name: statement.excluded[name] for name in _REFRESHED},
    ).returning(PushDevice.id)
    device_id: UUID = (await session.execute(statement)).scalar_one()
    return device_id


async def get(
    session: AsyncSession, device_id: UUID, profile_id: UUID | None = None
) -> PushDevice | None:
    query = select(PushDevice).where(PushDevice.id == device_id)
    if profile_id is not None:
        query = query.where(PushDevice.profile_id == profile_id)
    return await session.scalar(query.execution_options(populate_existing=True))


def _of_profile(profile_id: UUID) -> Any:
    return select(PushDevice).where(PushDevice.profile_id == profile_id)


async def list_of_profile(
    session: AsyncSession, profile_id: UUID, page: PageRequest
) -> tuple[list[PushDevice], str | None]:
    return await paginate(session, _of_profile(profile_id), PushDevice.id, page)


async def count_of_profile(session: AsyncSession, profile_id: UUID) -> int:
    return await count_rows(session, _of_profile(profile_id))


async def all_of_profile(session: AsyncSession, profile_id: UUID) -> list[PushDevice]:
    return list(await session.scalars(_of_profile(profile_id).order_by(PushDevice.id)))


async def delete_device(session: AsyncSession, device_id: UUID) -> bool:
    result = await session.execute(delete(PushDevice).where(PushDevice.id == device_id))
    return bool(getattr(result, "rowcount", 0))


async def move(session: AsyncSession, from_profile: UUID, to_profile: UUID) -> None:
    await session.execute(
        update(PushDevice)
        .where(PushDevice.profile_id == from_profile)
        .values(profile_id=to_profile)
    )
