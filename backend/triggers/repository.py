"""The queries of triggers: occurrences (inserted once by their unique key), definitions,
watermarks, carts, and the set-based selection of profiles whose date falls in a scan window."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    String,
    Table,
    and_,
    delete,
    func,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.db import dialect_of, insert_for, utcnow
from backend.core.ids import new_id
from backend.core.pagination import PageRequest, count_rows, paginate
from backend.core.tenancy import TenantId
from backend.profiles.models import Profile
from backend.triggers.models import (
    SCANNED_KINDS,
    TriggerCart,
    TriggerDefinition,
    TriggerKind,
    TriggerOccurrence,
    TriggerWatermark,
)

# Rows per INSERT: well under SQLite's bound-parameter limit.
INSERT_CHUNK = 500


# Occurrences -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewOccurrence:
    profile_id: UUID
    type: str
    dedupe_key: str
    occurred_at: dt.datetime
    payload: dict[str, Any]


async def insert_occurrences(
    session: AsyncSession, tenant: TenantId, occurrences: Sequence[NewOccurrence]
) -> list[UUID]:
    """Insert each occurrence unless its (type, dedupe key) is stored; the ids of those inserted.

    ON CONFLICT DO NOTHING: the unique key, not a prior read, decides, so racing writers and
    scheduler replicas store an occurrence once.
    """
    table = TriggerOccurrence.__table__
    assert isinstance(table, Table)
    inserted: list[UUID] = []
    now = utcnow()
    for start in range(0, len(occurrences), INSERT_CHUNK):
        chunk = occurrences[start : start + INSERT_CHUNK]
        values = [
            {
                "tenant_id": tenant,
                "id": new_id(),
                "profile_id": o.profile_id,
                "type": o.type,
                "dedupe_key": o.dedupe_key,
                "occurred_at": o.occurred_at,
                "payload": o.payload,
                "created_at": now,
                "updated_at": now,
            }
            for o in chunk
        ]
        statement = (
            insert_for(session, table)
            .values(values)
            .on_conflict_do_nothing(index_elements=["tenant_id", "type", "dedupe_key"])
            .returning(table.c.id)
        )
        inserted.extend((await session.execute(statement)).scalars())
    return inserted


async def list_occurrences(
    session: AsyncSession,
    page: PageRequest,
    *,
    type: str | None = None,
    profile_id: UUID | None = None,
    occurred_from: dt.datetime | None = None,
    occurred_until: dt.datetime | None = None,
) -> tuple[list[TriggerOccurrence], str | None]:
    query = select(TriggerOccurrence)
    if type is not None:
        query = query.where(TriggerOccurrence.type == type)
    if profile_id is not None:
        query = query.where(TriggerOccurrence.profile_id == profile_id)
    if occurred_from is not None:
        query = query.where(TriggerOccurrence.occurred_at >= occurred_from)
    if occurred_until is not None:
        query = query.where(TriggerOccurrence.occurred_at < occurred_until)
    return await paginate(session, query, TriggerOccurrence.id, page)


async def occurrences_by_ids(session: AsyncSession, ids: Sequence[UUID]) -> list[TriggerOccurrence]:
    if not ids:
        return []
    query = select(TriggerOccurrence).where(TriggerOccurrence.id.in_(ids))
    return list((await session.scalars(query.order_by(TriggerOccurrence.id))).all())


# Definitions and watermarks --------------------------------------------------------------------


async def list_definitions(
    session: AsyncSession, page: PageRequest
) -> tuple[list[TriggerDefinition], str | None]:
    return await paginate(session, select(TriggerDefinition), TriggerDefinition.id, page)


async def count_definitions(session: AsyncSession) -> int:
    return await count_rows(session, select(TriggerDefinition))


async def get_definition(session: AsyncSession, definition_id: UUID) -> TriggerDefinition | None:
    query = select(TriggerDefinition).where(TriggerDefinition.id == definition_id)
    return await session.scalar(query)


async def definition_by_key(session: AsyncSession, key: str) -> TriggerDefinition | None:
    return await session.scalar(select(TriggerDefinition).where(TriggerDefinition.key == key))


async def enabled_definitions(session: AsyncSession, kind: TriggerKind) -> list[TriggerDefinition]:
    query = select(TriggerDefinition).where(
        TriggerDefinition.kind == kind, TriggerDefinition.enabled.is_(True)
    )
    return list((await session.scalars(query.order_by(TriggerDefinition.id))).all())


async def claim_watermarks(
    session: AsyncSession,
) -> list[tuple[TriggerWatermark, TriggerDefinition]]:
    """The watermarks of the enabled scheduled definitions, locked for this transaction; rows a
    concurrent scan holds are skipped (PostgreSQL), so replicas never scan the same one twice."""
    query = (
        select(TriggerWatermark, TriggerDefinition)
        .join(
            TriggerDefinition,
            and_(
                TriggerDefinition.tenant_id == TriggerWatermark.tenant_id,
                TriggerDefinition.id == TriggerWatermark.definition_id,
            ),
        )
        .where(TriggerDefinition.enabled.is_(True), TriggerDefinition.kind.in_(SCANNED_KINDS))
        .order_by(TriggerWatermark.definition_id)
        .with_for_update(skip_locked=True, of=TriggerWatermark)
    )
    return [(row[0], row[1]) for row in (await session.execute(query)).all()]


# Carts -----------------------------------------------------------------------------------------


async def get_cart(session: AsyncSession, cart_id: str) -> TriggerCart | None:
    return await session.scalar(select(TriggerCart).where(TriggerCart.cart_id == cart_id))


async def carts_of_profile(session: AsyncSession, profile_id: UUID) -> list[TriggerCart]:
    query = select(TriggerCart).where(TriggerCart.profile_id == profile_id)
    return list((await session.scalars(query)).all())


# Profiles (merges, erasure) --------------------------------------------------------------------


async def repoint_profile_rows(session: AsyncSession, merged_id: UUID, survivor_id: UUID) -> None:
    for model in (TriggerOccurrence, TriggerCart):
        await session.execute(
            update(model)
            .where(model.profile_id == merged_id)
            .values(profile_id=survivor_id)
            .execution_options(synchronize_session=False)
        )


async def delete_profile_rows(session: AsyncSession, profile_id: UUID) -> None:
    for model in (TriggerOccurrence, TriggerCart):
        await session.execute(
            delete(model)
            .where(model.profile_id == profile_id)
            .execution_options(synchronize_session=False)
        )


# Date scan -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ZoneWindow:
    """What a profile's date must be to fall due in the scan window, for the profiles whose time
    zone is one of ``zones`` (``None`` standing for "no zone": the brand's).

    Once: the date (ISO text) within [``date_from``, ``date_to``] — for a datetime attribute, the
    instant (ISO text, UTC) within [``date_from``, ``date_to``). Yearly: the month and day
    (``MM-DD``) among ``month_days``, and the date before ``date_from``.
    """

    zones: tuple[str | None, ...]
    date_from: str
    date_to: str
    month_days: tuple[str, ...] = ()


async def profile_time_zones(session: AsyncSession) -> list[str | None]:
    """The distinct time zones of the brand's profiles (a few hundred at most)."""
    return list((await session.scalars(select(Profile.time_zone).distinct())).all())


def _date_text(session: AsyncSession, field: str) -> ColumnElement[str]:
    """The field's value as ISO text, the same on both dialects (so comparisons are textual)."""
    if field == "birth_date":
        if dialect_of(session) == "postgresql":
            return func.to_char(Profile.birth_date, "YYYY-MM-DD")
        return type_coerce(Profile.birth_date, String)  # SQLite stores dates as ISO text
    text: ColumnElement[str] = Profile.attributes[field].as_string()
    return text


def _zone_condition(zones: tuple[str | None, ...]) -> ColumnElement[bool]:
    named = [z for z in zones if z is not None]
    conditions = [Profile.time_zone.in_(named)] if named else []
    if None in zones:
        conditions.append(Profile.time_zone.is_(None))
    return or_(*conditions)


async def profiles_with_dates(
    session: AsyncSession,
    field: str,
    windows: Sequence[ZoneWindow],
    *,
    yearly: bool,
    instant: bool,
    after: UUID | None,
    limit: int,
) -> list[tuple[UUID, str | None, str]]:
    """One keyset page (by profile id) of (profile id, time zone, date text) whose ``field``
    falls in the window of its time zone: one set-based query, whatever the number of zones."""
    value = _date_text(session, field)
    conditions = []
    for window in windows:
        if yearly:
            matches = and_(
                func.substr(value, 6, 5).in_(window.month_days), value < window.date_from
            )
        elif instant:
            matches = and_(value >= window.date_from, value < window.date_to)
        else:
            matches = value.between(window.date_from, window.date_to)
        conditions.append(and_(_zone_condition(window.zones), matches))
    if not conditions:
        return []
    query = select(Profile.id, Profile.time_zone, value).where(or_(*conditions))
    if after is not None:
        query = query.where(Profile.id > after)
    rows = await session.execute(query.order_by(Profile.id).limit(limit))
    return [(row[0], row[1], row[2]) for row in rows]
