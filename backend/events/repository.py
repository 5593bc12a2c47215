"""Queries of the events domain. ORM statements are scoped to the session's brand; the Core
inserts of the ingestion path stamp ``tenant_id`` themselves (and RLS checks it on PostgreSQL)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Sequence
from typing import Any, cast
from uuid import UUID

import msgspec
from sqlalchemy import (
    ColumnElement,
    Table,
    delete,
    func,
    literal_column,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy import type_coerce as coerced
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.db import UTCDateTime, among, dialect_of, insert_for
from backend.core.errors import InvalidInput
from backend.core.pagination import PageRequest, count_rows, paginate
from backend.core.tenancy import required_tenant
from backend.events.models import Cart, CartStatus, Event, EventSettings, EventType

EVENTS = cast(Table, Event.__table__)
# Lookups by list are sent in slices, well below every driver's parameter limit.
SLICE = 1000


# Settings and types ----------------------------------------------------------------------------


async def get_settings(session: AsyncSession) -> EventSettings | None:
    return await session.scalar(select(EventSettings))


async def all_event_types(session: AsyncSession) -> list[EventType]:
    return list((await session.scalars(select(EventType))).all())


async def event_type_by_name(session: AsyncSession, name: str) -> EventType | None:
    return await session.scalar(select(EventType).where(EventType.name == name))


async def list_event_types(
    session: AsyncSession, page: PageRequest
) -> tuple[list[EventType], str | None]:
    return await paginate(session, select(EventType), EventType.id, page)


async def event_type_by_id(session: AsyncSession, type_id: UUID) -> EventType | None:
    return await session.scalar(select(EventType).where(EventType.id == type_id))


async def count_event_types(session: AsyncSession) -> int:
    return await count_rows(session, select(EventType))


# Events ----------------------------------------------------------------------------------------


async def stored_events(
    session: AsyncSession, event_ids: Sequence[str]
) -> dict[str, tuple[UUID, UUID]]:
    """The stored id and profile of each of these client event ids that is already stored."""
    found: dict[str, tuple[UUID, UUID]] = {}
    unique = sorted(set(event_ids))
    for start in range(0, len(unique), SLICE):
        part = unique[start : start + SLICE]
        rows = await session.execute(
            select(Event.event_id, Event.id, Event.profile_id).where(Event.event_id.in_(part))
        )
        found.update({event_id: (id_, profile_id) for event_id, id_, profile_id in rows})
    return found


# The stored columns, and their PostgreSQL array types (one INSERT … SELECT FROM unnest).
_EVENT_ARRAYS = {
    "tenant_id": "uuid[]",
    "id": "uuid[]",
    "event_id": "text[]",
    "name": "text[]",
    "profile_id": "uuid[]",
    "occurred_at": "timestamptz[]",
    "created_at": "timestamptz[]",
    "updated_at": "timestamptz[]",
    "source": "text[]",
    "properties": "jsonb[]",
}
_JSON = msgspec.json.Encoder()
_INSERT_UNNEST = text(
    f"INSERT INTO events ({', '.join(_EVENT_ARRAYS)})"  # noqa: S608  (our names)
    " SELECT * FROM unnest("
    + ", ".join(f"CAST(:{name} AS {kind})" for name, kind in _EVENT_ARRAYS.items())
    + ") ON CONFLICT (tenant_id, event_id) DO NOTHING RETURNING event_id"
)


async def insert_events(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Insert the rows in one set-based statement, skipping event ids stored meanwhile (the
    unique key decides); the client event ids actually inserted. PostgreSQL: ``INSERT … SELECT
    FROM unnest`` of one array per column (ten parameters whatever the batch's size: no
    multi-row VALUES to build and bind)."""
    if not rows:
        return set()
    if dialect_of(session) == "postgresql":
        arrays = {name: [row[name] for row in rows] for name in _EVENT_ARRAYS}
        # The array's elements reach the driver's jsonb codec as JSON text. msgspec writes
        # whatever json.dumps (the JSON type's own bind) writes as the same JSON value, several
        # times faster.
        arrays["properties"] = [_JSON.encode(value).decode() for value in arrays["properties"]]
        return set((await session.execute(_INSERT_UNNEST, arrays)).scalars())
    statement = (
        insert_for(session, EVENTS)
        .on_conflict_do_nothing(index_elements=["tenant_id", "event_id"])
        .returning(EVENTS.c.event_id)
    )
    connection = await session.connection()
    # An executemany: SQLAlchemy sends it as multi-row VALUES from one cached compiled statement.
    result = await connection.execute(statement, list(rows))
    return set(result.scalars())


class _Cursor(msgspec.Struct):
    at: dt.datetime
    id: UUID


def encode_cursor(event: Event) -> str:
    raw = msgspec.json.encode(_Cursor(at=event.occurred_at, id=event.id))
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> _Cursor:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return msgspec.json.decode(raw, type=_Cursor)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise InvalidInput("cursor is not valid", errors=[{"field": "cursor"}]) from None


async def list_events(
    session: AsyncSession,
    *,
    limit: int,
    cursor: str | None,
    profile_ids: Sequence[UUID] | None = None,
    name: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> tuple[list[Event], str | None]:
    """Events newest first (by ``occurred_at`` then id), keyset-paginated."""
    query = select(Event)
    if profile_ids is not None:
        query = query.where(Event.profile_id.in_(list(profile_ids)))
    if name is not None:
        query = query.where(Event.name == name)
    if since is not None:
        query = query.where(Event.occurred_at >= since)
    if until is not None:
        query = query.where(Event.occurred_at < until)
    if cursor is not None:
        after = decode_cursor(cursor)
        query = query.where(tuple_(Event.occurred_at, Event.id) < (after.at, after.id))
    query = query.order_by(Event.occurred_at.desc(), Event.id.desc()).limit(limit + 1)
    items = list((await session.scalars(query)).all())
    if len(items) > limit:
        items = items[:limit]
        return items, encode_cursor(items[-1])
    return items, None


async def event_times(
    session: AsyncSession,
    name: str,
    profile_ids: Sequence[UUID],
    since: dt.datetime,
    until: dt.datetime,
) -> list[tuple[UUID, dt.datetime]]:
    """(profile, occurred at) of the events named ``name`` of these profiles in [since, until]."""
    if not profile_ids:
        return []
    query = select(Event.profile_id, Event.occurred_at).where(
        Event.profile_id.in_(list(profile_ids)),
        Event.occurred_at >= since,
        Event.occurred_at <= until,
        Event.name == name,
    )
    return [(p, t) for p, t in (await session.execute(query)).all() if p is not None]


async def latest_events_of(
    session: AsyncSession, profile_ids: Sequence[UUID], per_profile: int
) -> dict[UUID, list[Event]]:
    """The latest ``per_profile`` events of each profile, newest first (a window query per
    slice of profiles)."""
    found: dict[UUID, list[Event]] = {}
    unique = sorted(set(profile_ids))
    for start in range(0, len(unique), SLICE):
        part = unique[start : start + SLICE]
        rank = (
            func.row_number()
            .over(
                partition_by=Event.profile_id,
                order_by=(Event.occurred_at.desc(), Event.id.desc()),
            )
            .label("rank")
        )
        ranked = select(Event.id, rank).where(Event.profile_id.in_(part)).subquery()
        query = (
            select(Event)
            .join(ranked, ranked.c.id == Event.id)
            .where(ranked.c.rank <= per_profile)
            .order_by(Event.profile_id, Event.occurred_at.desc(), Event.id.desc())
        )
        for event in await session.scalars(query):
            found.setdefault(event.profile_id, []).append(event)
    return found


def _utc_hour(session: AsyncSession, moment: Any) -> ColumnElement[dt.datetime]:
    """``moment`` cut to its UTC hour, read back as an aware datetime."""
    if dialect_of(session) == "postgresql":
        # Cut in UTC whatever the connection's TimeZone (date_trunc of a timestamptz cuts in it).
        cut = func.date_trunc("hour", moment.op("AT TIME ZONE")(literal_column("'UTC'")))
    else:  # SQLite keeps UTC times as text: keep the hour, zero the rest
        cut = func.strftime("%Y-%m-%d %H:00:00", moment)
    return coerced(cut, UTCDateTime())


async def activity_by_hour(
    session: AsyncSession,
    names: Sequence[str],
    since: dt.datetime,
    until: dt.datetime,
    profile_ids: Sequence[UUID],
) -> list[tuple[UUID, dt.datetime, int]]:
    """(profile, UTC hour, events) of these profiles' events named ``names`` in
    [since, until], in one query."""
    if not profile_ids or not names:
        return []
    hour = _utc_hour(session, Event.occurred_at).label("hour")
    query = (
        select(Event.profile_id, hour, func.count())
        .where(
            among(session, Event.profile_id, profile_ids),
            Event.name.in_(names),
            Event.occurred_at >= since,
            Event.occurred_at <= until,
        )
        .group_by(Event.profile_id, hour)
    )
    return [(row[0], row[1], int(row[2])) for row in await session.execute(query)]


async def latest_activity_by_hour(
    session: AsyncSession,
    names: Sequence[str],
    since: dt.datetime,
    until: dt.datetime,
    limit: int,
) -> list[tuple[UUID, dt.datetime, int]]:
    """:func:`activity_by_hour` over the brand's latest ``limit`` such events (whoever made
    them), in one query walking the brand's events newest first."""
    if not names:
        return []
    latest = (
        select(Event.profile_id, Event.occurred_at)
        .where(Event.name.in_(names), Event.occurred_at >= since, Event.occurred_at <= until)
        .order_by(Event.occurred_at.desc())
        .limit(limit)
        .subquery()
    )
    hour = _utc_hour(session, latest.c.occurred_at).label("hour")
    query = select(latest.c.profile_id, hour, func.count()).group_by(latest.c.profile_id, hour)
    return [(row[0], row[1], int(row[2])) for row in await session.execute(query)]


async def repoint_profile(
    session: AsyncSession, model: type[Event] | type[Cart], merged: UUID, survivor: UUID
) -> None:
    await session.execute(
        update(model)
        .where(model.profile_id == merged)
        .values(profile_id=survivor)
        .execution_options(synchronize_session=False)
    )


async def delete_of_profile(
    session: AsyncSession, model: type[Event] | type[Cart], profile_id: UUID
) -> None:
    await session.execute(
        delete(model)
        .where(model.profile_id == profile_id)
        .execution_options(synchronize_session=False)
    )


# Carts -----------------------------------------------------------------------------------------


async def cart_of(session: AsyncSession, profile_id: UUID, cart_id: str) -> Cart | None:
    return await session.scalar(
        select(Cart).where(Cart.profile_id == profile_id, Cart.cart_id == cart_id)
    )


async def open_carts_of(session: AsyncSession, profile_id: UUID) -> list[Cart]:
    query = select(Cart).where(Cart.profile_id == profile_id, Cart.status == CartStatus.OPEN)
    return list((await session.scalars(query)).all())


async def carts_of_profile(session: AsyncSession, profile_id: UUID) -> list[Cart]:
    query = select(Cart).where(Cart.profile_id == profile_id).order_by(Cart.changed_at.desc())
    return list((await session.scalars(query)).all())


async def idle_open_carts(
    session: AsyncSession, idle_since: dt.datetime, page: PageRequest
) -> tuple[list[Cart], str | None]:
    query = select(Cart).where(Cart.status == CartStatus.OPEN, Cart.changed_at <= idle_since)
    return await paginate(session, query, Cart.id, page)


async def cart_conflicts(session: AsyncSession, merged: UUID, survivor: UUID) -> list[Cart]:
    """Carts of the merged profile whose cart id the survivor already holds."""
    held = select(Cart.cart_id).where(Cart.profile_id == survivor)
    query = select(Cart).where(Cart.profile_id == merged, Cart.cart_id.in_(held))
    return list((await session.scalars(query)).all())


# PostgreSQL: each event's local hour in its profile's zone and its decayed weight, grouped in
# the database (``date_part`` works in double precision; ``extract`` would in numeric, ten times
# slower over a million rows).
_LOCAL_HOURS = text(
    """SELECT e.profile_id, CAST(date_part('hour', e.occurred_at AT TIME ZONE z.zone) AS int),
        count(*), sum(exp(:rate * date_part('epoch', CAST(:until AS timestamptz) - e.occurred_at)))
    FROM events AS e
    JOIN unnest(CAST(:ids AS uuid[]), CAST(:zones AS text[])) AS z(profile_id, zone)
        ON z.profile_id = e.profile_id
    WHERE e.tenant_id = :tenant AND e.name = ANY(CAST(:names AS text[]))
        AND e.occurred_at >= :since AND e.occurred_at <= :until
    GROUP BY 1, 2"""
)


async def activity_by_local_hour(
    session: AsyncSession,
    names: Sequence[str],
    since: dt.datetime,
    until: dt.datetime,
    zones: Sequence[tuple[UUID, str]],
    rate: float,
) -> list[tuple[UUID, int, int, float]]:
    """PostgreSQL: (profile, local hour, events, sum of ``exp(rate * age in seconds)``) of these
    (profile, zone) pairs' events named ``names`` in [since, until], in one query. Every zone
    must be one PostgreSQL knows (:func:`known_time_zones`)."""
    if not zones or not names:
        return []
    rows = await session.execute(
        _LOCAL_HOURS,
        {
            "rate": rate,
            "until": until,
            "since": since,
            "ids": [profile_id for profile_id, _ in zones],
            "zones": [zone for _, zone in zones],
            "names": list(names),
            "tenant": required_tenant(session),
        },
    )
    return [(row[0], int(row[1]), int(row[2]), float(row[3])) for row in rows]


async def known_time_zones(session: AsyncSession, names: Sequence[str]) -> set[str]:
    """PostgreSQL: which of these zone names the server's time zone database holds."""
    rows = await session.execute(
        text("SELECT name FROM pg_timezone_names WHERE name = ANY(CAST(:names AS text[]))"),
        {"names": list(names)},
    )
    return {row[0] for row in rows}
