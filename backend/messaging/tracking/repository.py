"""SQL of tracking's own tables."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import case, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.db import insert_for
from backend.core.tenancy import required_tenant
from backend.messaging.models import Message, SourceKind
from backend.messaging.tracking.models import MessageSighting, SoftBounceRun


async def delete_sightings_before(session: AsyncSession, message_id_floor: UUID) -> None:
    """Forget what was seen of messages older than the floor (ids are time-ordered)."""
    await session.execute(
        delete(MessageSighting).where(MessageSighting.message_id < message_id_floor)
    )


async def sight(session: AsyncSession, message_id: UUID, key: str, at: dt.datetime) -> int:
    """Record one sighting of ``key`` on a message; the count after it (1: the first). One
    statement: concurrent sightings queue on the row and each gets its own count."""
    statement = (
        insert_for(session, MessageSighting)
        .values(
            tenant_id=required_tenant(session),
            message_id=message_id,
            key=key,
            count=1,
            first_at=at,
            last_at=at,
            created_at=at,
            updated_at=at,
        )
        .returning(MessageSighting.count)
    )
    statement = statement.on_conflict_do_update(
        index_elements=["tenant_id", "message_id", "key"],
        set_={"count": MessageSighting.count + 1, "last_at": at, "updated_at": at},
    )
    count: int = (await session.execute(statement)).scalar_one()
    return count


async def sightings(session: AsyncSession, message_ids: Sequence[UUID]) -> list[MessageSighting]:
    if not message_ids:
        return []
    rows = await session.scalars(
        select(MessageSighting)
        .where(MessageSighting.message_id.in_(message_ids))
        .order_by(MessageSighting.message_id, MessageSighting.key)
    )
    return list(rows)


async def count_soft_bounce(
    session: AsyncSession, profile_id: UUID, channel: str, at: dt.datetime
) -> int:
    """One more soft bounce in the address's current run; the run's length after it."""
    statement = (
        insert_for(session, SoftBounceRun)
        .values(
            tenant_id=required_tenant(session),
            profile_id=profile_id,
            channel=channel,
            count=1,
            last_at=at,
            created_at=at,
            updated_at=at,
        )
        .returning(SoftBounceRun.count)
    )
    statement = statement.on_conflict_do_update(
        index_elements=["tenant_id", "profile_id", "channel"],
        set_={"count": SoftBounceRun.count + 1, "last_at": at, "updated_at": at},
    )
    count: int = (await session.execute(statement)).scalar_one()
    return count


async def end_soft_bounce_run(session: AsyncSession, profile_id: UUID, channel: str) -> None:
    await session.execute(
        delete(SoftBounceRun)
        .where(SoftBounceRun.profile_id == profile_id, SoftBounceRun.channel == channel)
        .execution_options(synchronize_session=False)
    )


async def engagement_by_source(
    session: AsyncSession, source_kind: SourceKind, source_keys: Sequence[str], since: UUID
) -> dict[str, tuple[int, int]]:
    """Per source key: how many of its messages (created from ``since``, an id floor) were seen
    opened by a person, and how many clicked — one aggregate over the ledger's source index."""
    if not source_keys:
        return {}
    seen = MessageSighting
    opened = func.count(func.distinct(case((seen.key == "opened", seen.message_id))))
    clicked = func.count(func.distinct(case((seen.key.like("clicked:%"), seen.message_id))))
    query = (
        select(Message.source_key, opened, clicked)
        .join(seen, (seen.tenant_id == Message.tenant_id) & (seen.message_id == Message.id))
        .where(
            Message.source_kind == source_kind,
            Message.source_key.in_(list(source_keys)),
            Message.id >= since,
        )
        .group_by(Message.source_key)
    )
    return {str(k): (int(o), int(c)) for k, o, c in (await session.execute(query)).all()}
