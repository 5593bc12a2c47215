"""Queries of the profiles domain. Every ORM statement here is scoped to the session's brand; the
few Core inserts stamp ``tenant_id`` themselves."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, String, delete, func, literal, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from backend.core.db import JSONType, among, dialect_of, insert_ignoring_conflict
from backend.core.pagination import PageRequest, paginate
from backend.core.tenancy import TenantId
from backend.profiles.models import (
    ConsentChange,
    ConsentTopic,
    Order,
    OrderLine,
    Profile,
    ProfileAttribute,
    ProfileIdentity,
    ProfileMerge,
    ProfileUniqueValue,
)

# Attributes ------------------------------------------------------------------------------------


async def list_attributes(
    session: AsyncSession, page: PageRequest
) -> tuple[list[ProfileAttribute], str | None]:
    return await paginate(session, select(ProfileAttribute), ProfileAttribute.id, page)


async def all_attributes(session: AsyncSession) -> list[ProfileAttribute]:
    return list((await session.scalars(select(ProfileAttribute))).all())


async def get_attribute(session: AsyncSession, attribute_id: UUID) -> ProfileAttribute | None:
    return await session.scalar(select(ProfileAttribute).where(ProfileAttribute.id == attribute_id))


async def attribute_by_key(session: AsyncSession, key: str) -> ProfileAttribute | None:
    return await session.scalar(select(ProfileAttribute).where(ProfileAttribute.key == key))


async def strip_attribute(session: AsyncSession, key: str) -> None:
    """Remove ``key`` from every profile's attributes, set-based."""
    stripped: ColumnElement[Any]
    if dialect_of(session) == "postgresql":
        stripped = Profile.attributes.op("-", return_type=JSONType)(literal(key, String))
    else:
        stripped = func.json_remove(Profile.attributes, f"$.{key}")
    await session.execute(
        update(Profile).values(attributes=stripped).execution_options(synchronize_session=False)
    )


# Profiles --------------------------------------------------------------------------------------


async def get_profile(session: AsyncSession, profile_id: UUID) -> Profile | None:
    return await session.scalar(select(Profile).where(Profile.id == profile_id))


async def count_all_profiles(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Profile)) or 0)


async def profiles_by_ids(session: AsyncSession, profile_ids: Sequence[UUID]) -> list[Profile]:
    if not profile_ids:
        return []
    query = select(Profile).where(among(session, Profile.id, profile_ids))
    return list((await session.scalars(query)).all())


async def time_zones_of(
    session: AsyncSession, profile_ids: Sequence[UUID]
) -> list[tuple[UUID, str | None]]:
    """(id, time zone) of the profiles of these ids that exist, in one query."""
    if not profile_ids:
        return []
    query = select(Profile.id, Profile.time_zone).where(among(session, Profile.id, profile_ids))
    return [(row[0], row[1]) for row in await session.execute(query)]


def _filtered(
    query: Any,
    keys: Sequence[tuple[str, str]],
    country: str | None,
    preferred_store: str | None,
    updated_since: dt.datetime | None,
) -> Any:
    for kind, value in keys:
        owner = select(ProfileIdentity.profile_id).where(
            ProfileIdentity.kind == kind, ProfileIdentity.value == value
        )
        query = query.where(Profile.id.in_(owner))
    if country is not None:
        query = query.where(Profile.country == country)
    if preferred_store is not None:
        query = query.where(Profile.preferred_store == preferred_store)
    if updated_since is not None:
        query = query.where(Profile.updated_at >= updated_since)
    return query


async def count_profiles(
    session: AsyncSession,
    *,
    keys: Sequence[tuple[str, str]] = (),
    country: str | None = None,
    preferred_store: str | None = None,
    updated_since: dt.datetime | None = None,
) -> int:
    """How many profiles :func:`list_profiles` pages through with these filters."""
    query = _filtered(
        select(func.count()).select_from(Profile), keys, country, preferred_store, updated_since
    )
    return int(await session.scalar(query) or 0)


async def list_profiles(
    session: AsyncSession,
    page: PageRequest,
    *,
    keys: Sequence[tuple[str, str]] = (),
    country: str | None = None,
    preferred_store: str | None = None,
    updated_since: dt.datetime | None = None,
) -> tuple[list[Profile], str | None]:
    """Profiles in creation order; each identity key of ``keys`` must point to them."""
    query = _filtered(select(Profile), keys, country, preferred_store, updated_since)
    return await paginate(session, query, Profile.id, page)


async def delete_profile_rows(session: AsyncSession, profile_id: UUID) -> None:
    """Every row of this domain that belongs to the profile (but the profile itself)."""
    await session.execute(
        delete(OrderLine)
        .where(OrderLine.order_uuid.in_(select(Order.id).where(Order.profile_id == profile_id)))
        .execution_options(synchronize_session=False)
    )
    for model in (ProfileIdentity, ProfileUniqueValue, ConsentChange, Order):
        await session.execute(
            delete(model)
            .where(model.profile_id == profile_id)
            .execution_options(synchronize_session=False)
        )
    # Ids merged into it would redirect to nothing: they end here too.
    await session.execute(
        delete(ProfileMerge)
        .where(ProfileMerge.survivor_id == profile_id)
        .execution_options(synchronize_session=False)
    )


# Identity keys ---------------------------------------------------------------------------------


async def identities_of(
    session: AsyncSession, profile_ids: Sequence[UUID]
) -> list[ProfileIdentity]:
    if not profile_ids:
        return []
    query = (
        select(ProfileIdentity)
        .where(ProfileIdentity.profile_id.in_(profile_ids))
        .order_by(ProfileIdentity.kind, ProfileIdentity.value)
    )
    return list((await session.scalars(query)).all())


async def owners_of_keys(
    session: AsyncSession, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], UUID]:
    if not keys:
        return {}
    rows = await session.execute(
        select(ProfileIdentity.kind, ProfileIdentity.value, ProfileIdentity.profile_id).where(
            tuple_(ProfileIdentity.kind, ProfileIdentity.value).in_(list(keys))
        )
    )
    return {(kind, value): profile_id for kind, value, profile_id in rows}


async def claim_identity(
    session: AsyncSession, tenant: TenantId, kind: str, value: str, profile_id: UUID
) -> UUID | None:
    """Point the key at the profile unless it points elsewhere; the owner it points to."""
    values = {"tenant_id": tenant, "kind": kind, "value": value, "profile_id": profile_id}
    await insert_ignoring_conflict(session, ProfileIdentity, values, ["tenant_id", "kind", "value"])
    return await session.scalar(
        select(ProfileIdentity.profile_id).where(
            ProfileIdentity.kind == kind, ProfileIdentity.value == value
        )
    )


async def release_identity(session: AsyncSession, kind: str, value: str, profile_id: UUID) -> None:
    await session.execute(
        delete(ProfileIdentity)
        .where(
            ProfileIdentity.kind == kind,
            ProfileIdentity.value == value,
            ProfileIdentity.profile_id == profile_id,
        )
        .execution_options(synchronize_session=False)
    )


async def repoint(session: AsyncSession, model: Any, merged_id: UUID, survivor_id: UUID) -> None:
    """Rows of ``model`` (with a ``profile_id``) move from the merged profile to the survivor."""
    await session.execute(
        update(model)
        .where(model.profile_id == merged_id)
        .values(profile_id=survivor_id)
        .execution_options(synchronize_session=False)
    )


# Unique attribute values -----------------------------------------------------------------------


async def claim_unique_value(
    session: AsyncSession, tenant: TenantId, attribute: str, value: str, profile_id: UUID
) -> UUID | None:
    values = {"tenant_id": tenant, "attribute": attribute, "value": value, "profile_id": profile_id}
    await insert_ignoring_conflict(
        session, ProfileUniqueValue, values, ["tenant_id", "attribute", "value"]
    )
    return await session.scalar(
        select(ProfileUniqueValue.profile_id).where(
            ProfileUniqueValue.attribute == attribute, ProfileUniqueValue.value == value
        )
    )


async def release_unique_values(
    session: AsyncSession, profile_ids: Sequence[UUID], attribute: str | None = None
) -> None:
    statement = delete(ProfileUniqueValue).where(ProfileUniqueValue.profile_id.in_(profile_ids))
    if attribute is not None:
        statement = statement.where(ProfileUniqueValue.attribute == attribute)
    await session.execute(statement.execution_options(synchronize_session=False))


async def delete_unique_values_of_attribute(session: AsyncSession, attribute: str) -> None:
    await session.execute(
        delete(ProfileUniqueValue)
        .where(ProfileUniqueValue.attribute == attribute)
        .execution_options(synchronize_session=False)
    )


# Merges ----------------------------------------------------------------------------------------


async def merge_of(session: AsyncSession, merged_id: UUID) -> ProfileMerge | None:
    return await session.scalar(
        select(ProfileMerge)
        .where(ProfileMerge.merged_id == merged_id)
        .order_by(ProfileMerge.id.desc())
        .limit(1)
    )


async def list_merges(
    session: AsyncSession, survivor_id: UUID, page: PageRequest
) -> tuple[list[ProfileMerge], str | None]:
    query = select(ProfileMerge).where(ProfileMerge.survivor_id == survivor_id)
    return await paginate(session, query, ProfileMerge.id, page)


# Consents --------------------------------------------------------------------------------------


async def list_topics(
    session: AsyncSession, page: PageRequest
) -> tuple[list[ConsentTopic], str | None]:
    return await paginate(session, select(ConsentTopic), ConsentTopic.id, page)


async def get_topic(session: AsyncSession, topic_id: UUID) -> ConsentTopic | None:
    return await session.scalar(select(ConsentTopic).where(ConsentTopic.id == topic_id))


async def topic_by_key(session: AsyncSession, key: str) -> ConsentTopic | None:
    return await session.scalar(select(ConsentTopic).where(ConsentTopic.key == key))


async def topic_in_use(session: AsyncSession, key: str) -> bool:
    found = await session.scalar(
        select(ConsentChange.id).where(ConsentChange.topic == key).limit(1)
    )
    return found is not None


async def current_consents(
    session: AsyncSession, profile_ids: Sequence[UUID]
) -> list[ConsentChange]:
    """The latest change of each (profile, channel, topic): the current state, in one query."""
    if not profile_ids:
        return []
    rank = (
        func.row_number()
        .over(
            partition_by=(ConsentChange.profile_id, ConsentChange.channel, ConsentChange.topic),
            order_by=(ConsentChange.occurred_at.desc(), ConsentChange.id.desc()),
        )
        .label("rank")
    )
    ranked = (
        select(ConsentChange, rank)
        .where(among(session, ConsentChange.profile_id, profile_ids))
        .subquery()
    )
    latest = aliased(ConsentChange, ranked)
    query = (
        select(latest)
        .where(ranked.c.rank == 1)
        .order_by(latest.profile_id, latest.channel, latest.topic)
    )
    return list((await session.scalars(query)).all())


async def consent_history(
    session: AsyncSession, profile_id: UUID, page: PageRequest
) -> tuple[list[ConsentChange], str | None]:
    query = select(ConsentChange).where(ConsentChange.profile_id == profile_id)
    return await paginate(session, query, ConsentChange.id, page)


# Orders ----------------------------------------------------------------------------------------


async def order_by_order_id(session: AsyncSession, order_id: str) -> Order | None:
    return await session.scalar(select(Order).where(Order.order_id == order_id))


async def list_orders(
    session: AsyncSession, profile_id: UUID, page: PageRequest
) -> tuple[list[Order], str | None]:
    query = select(Order).where(Order.profile_id == profile_id)
    return await paginate(session, query, Order.id, page)


async def lines_of(session: AsyncSession, order_ids: Sequence[UUID]) -> list[OrderLine]:
    if not order_ids:
        return []
    query = select(OrderLine).where(OrderLine.order_uuid.in_(order_ids)).order_by(OrderLine.id)
    return list((await session.scalars(query)).all())


async def recent_orders(session: AsyncSession, profile_id: UUID, limit: int) -> list[Order]:
    """The profile's latest orders (by when they occurred), newest first."""
    query = (
        select(Order)
        .where(Order.profile_id == profile_id)
        .order_by(Order.occurred_at.desc(), Order.id.desc())
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


async def recent_orders_of_many(
    session: AsyncSession, profile_ids: Sequence[UUID], limit: int
) -> list[Order]:
    """The latest ``limit`` orders of each profile, newest first per profile, in one query."""
    if not profile_ids:
        return []
    rank = (
        func.row_number()
        .over(
            partition_by=Order.profile_id,
            order_by=(Order.occurred_at.desc(), Order.id.desc()),
        )
        .label("rank")
    )
    ranked = select(Order, rank).where(Order.profile_id.in_(profile_ids)).subquery()
    recent = aliased(Order, ranked)
    query = (
        select(recent)
        .where(ranked.c.rank <= limit)
        .order_by(recent.profile_id, recent.occurred_at.desc(), recent.id.desc())
    )
    return list((await session.scalars(query)).all())


async def order_times(
    session: AsyncSession, profile_ids: Sequence[UUID], since: dt.datetime, until: dt.datetime
) -> list[tuple[UUID, dt.datetime]]:
    """(profile, occurred at) of these profiles' orders in [since, until], in one query."""
    if not profile_ids:
        return []
    query = select(Order.profile_id, Order.occurred_at).where(
        Order.profile_id.in_(list(profile_ids)),
        Order.occurred_at >= since,
        Order.occurred_at <= until,
    )
    return [(p, t) for p, t in (await session.execute(query)).all()]


async def last_orders(session: AsyncSession, profile_ids: Sequence[UUID]) -> list[Order]:
    """The latest order (by when it occurred) of each profile, in one query."""
    if not profile_ids:
        return []
    rank = (
        func.row_number()
        .over(
            partition_by=Order.profile_id,
            order_by=(Order.occurred_at.desc(), Order.id.desc()),
        )
        .label("rank")
    )
    ranked = select(Order, rank).where(Order.profile_id.in_(profile_ids)).subquery()
    latest = aliased(Order, ranked)
    return list((await session.scalars(select(latest).where(ranked.c.rank == 1))).all())


async def profiles_by_last_order(
    session: AsyncSession,
    after: dt.datetime,
    until: dt.datetime,
    *,
    after_profile: UUID | None,
    limit: int,
) -> list[tuple[UUID, dt.datetime]]:
    """(profile id, latest order time) of the profiles whose latest order occurred in
    (after, until]; one keyset page by profile id, grouped in SQL."""
    latest = func.max(Order.occurred_at)
    query = (
        select(Order.profile_id, latest)
        .group_by(Order.profile_id)
        .having(latest > after, latest <= until)
    )
    if after_profile is not None:
        query = query.where(Order.profile_id > after_profile)
    rows = await session.execute(query.order_by(Order.profile_id).limit(limit))
    return [(row[0], row[1]) for row in rows]
