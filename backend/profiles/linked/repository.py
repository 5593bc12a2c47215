"""The SQL of linked tables, their rows and the rows' versions (the brand's session scopes every
query to its tenant)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy import Select, String, cast, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.db import among
from backend.core.pagination import PageRequest, paginate
from backend.profiles.models import LinkedRow, LinkedRowVersion, LinkedTable

IN_SLICE = 1000  # flat IN lists, in slices


async def table_by_key(session: AsyncSession, key: str) -> LinkedTable | None:
    return await session.scalar(select(LinkedTable).where(LinkedTable.key == key))


async def table_by_id(session: AsyncSession, table_id: UUID) -> LinkedTable | None:
    return await session.scalar(select(LinkedTable).where(LinkedTable.id == table_id))


async def table_id_of_key(session: AsyncSession, key: str) -> UUID | None:
    return await session.scalar(select(LinkedTable.id).where(LinkedTable.key == key))


async def table_keys(session: AsyncSession) -> dict[UUID, str]:
    """Every table's key by its id."""
    return {i: k for i, k in await session.execute(select(LinkedTable.id, LinkedTable.key))}


async def tables_page(
    session: AsyncSession, page: PageRequest
) -> tuple[list[LinkedTable], str | None]:
    return await paginate(session, select(LinkedTable), LinkedTable.id, page)


async def count_tables(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(LinkedTable)) or 0


async def rows_by_key(
    session: AsyncSession, table_id: UUID, keys: Sequence[str]
) -> dict[str, LinkedRow]:
    found: dict[str, LinkedRow] = {}
    unique = sorted(set(keys))
    for start in range(0, len(unique), IN_SLICE):
        query = select(LinkedRow).where(
            LinkedRow.table_id == table_id, LinkedRow.key.in_(unique[start : start + IN_SLICE])
        )
        found |= {row.key: row for row in await session.scalars(query) if row.key is not None}
    return found


async def row_in_table(session: AsyncSession, table_id: UUID, row_id: UUID) -> LinkedRow | None:
    return await session.scalar(
        select(LinkedRow).where(LinkedRow.table_id == table_id, LinkedRow.id == row_id)
    )


async def row_by_id(session: AsyncSession, row_id: UUID) -> LinkedRow | None:
    return await session.scalar(select(LinkedRow).where(LinkedRow.id == row_id))


def _rows(table_id: UUID, profile_id: UUID | None) -> Select[Any]:
    query = select(LinkedRow).where(LinkedRow.table_id == table_id)
    if profile_id is not None:
        query = query.where(LinkedRow.profile_id == profile_id)
    return query


async def rows_page(
    session: AsyncSession, table_id: UUID, page: PageRequest, *, profile_id: UUID | None = None
) -> tuple[list[LinkedRow], str | None]:
    """Rows of the table in creation order, of one profile when ``profile_id`` is given."""
    return await paginate(session, _rows(table_id, profile_id), LinkedRow.id, page)


async def count_rows(
    session: AsyncSession, table_id: UUID, *, profile_id: UUID | None = None
) -> int:
    query = _rows(table_id, profile_id).with_only_columns(func.count()).order_by(None)
    return await session.scalar(query) or 0


async def versions_page(
    session: AsyncSession, table_id: UUID, row_id: UUID, page: PageRequest
) -> tuple[list[LinkedRowVersion], str | None]:
    query = select(LinkedRowVersion).where(
        LinkedRowVersion.table_id == table_id, LinkedRowVersion.row_id == row_id
    )
    return await paginate(session, query, LinkedRowVersion.id, page)


async def rows_of_profiles(
    session: AsyncSession, table_id: UUID, profile_ids: Sequence[UUID]
) -> list[LinkedRow]:
    query = (
        select(LinkedRow)
        .where(LinkedRow.table_id == table_id, LinkedRow.profile_id.in_(profile_ids))
        .order_by(LinkedRow.id)
    )
    return list(await session.scalars(query))


async def rows_of_profile(session: AsyncSession, profile_id: UUID) -> list[LinkedRow]:
    """Every row of the profile in every table, oldest first."""
    query = select(LinkedRow).where(LinkedRow.profile_id == profile_id).order_by(LinkedRow.id)
    return list(await session.scalars(query))


async def row_values_of_profiles(
    session: AsyncSession, profile_ids: Sequence[UUID]
) -> list[tuple[UUID, str, str | None, dict[str, Any]]]:
    """(profile id, table key, row key, values) of every row of these profiles, oldest first.

    A batch of sends reads thousands of rows: columns only, no ORM objects; the profile id and
    the values come back as text, matched against the ids asked for (hex on SQLite, the
    dashed form on PostgreSQL) and decoded by msgspec, several times cheaper per row than
    building a UUID and running the stdlib's JSON decoder."""
    if not profile_ids:
        return []
    query = (
        select(
            cast(LinkedRow.profile_id, String),
            LinkedTable.key,
            LinkedRow.key,
            cast(LinkedRow.values, String),
        )
        .join(
            LinkedTable,
            (LinkedTable.tenant_id == LinkedRow.tenant_id) & (LinkedTable.id == LinkedRow.table_id),
        )
        .where(among(session, LinkedRow.profile_id, profile_ids))
        .order_by(LinkedRow.id)
    )
    ids = {text: i for i in profile_ids for text in (i.hex, str(i))}
    return [(ids[p], t, k, _json(v)) for p, t, k, v in await session.execute(query)]


def _json(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        values = msgspec.json.decode(text)
    except msgspec.DecodeError:  # what the stdlib accepts beyond JSON (NaN…)
        values = json.loads(text)
    return values if isinstance(values, dict) else {}


async def versions_of_profile(session: AsyncSession, profile_id: UUID) -> list[LinkedRowVersion]:
    query = (
        select(LinkedRowVersion)
        .where(LinkedRowVersion.profile_id == profile_id)
        .order_by(LinkedRowVersion.id)
    )
    return list(await session.scalars(query))


async def move_versions(session: AsyncSession, from_profile: UUID, to_profile: UUID) -> None:
    await session.execute(
        update(LinkedRowVersion)
        .where(LinkedRowVersion.profile_id == from_profile)
        .values(profile_id=to_profile)
        .execution_options(synchronize_session=False)
    )


async def delete_of_profile(session: AsyncSession, profile_id: UUID) -> None:
    """The profile's rows and their history, set-based."""
    models: tuple[Any, ...] = (LinkedRowVersion, LinkedRow)
    for model in models:
        await session.execute(
            delete(model)
            .where(model.profile_id == profile_id)
            .execution_options(synchronize_session=False)
        )
