"""Segments: definitions validated against the brand's schema, previews, and reads of members,
transitions and sizes. Evaluations live in :mod:`backend.segments.membership`. Services never
commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.db import dialect_of, utcnow
from backend.core.errors import Conflict, InvalidInput, NotFound
from backend.core.ids import new_id
from backend.core.jobs import enqueue
from backend.core.pagination import PageRequest
from backend.core.signals import Signal, signals
from backend.core.tenancy import TenantId
from backend.profiles import attributes as profile_attributes
from backend.profiles import consents as profile_consents
from backend.profiles import service as profile_service
from backend.profiles.linked import service as profile_linked
from backend.profiles.models import Profile
from backend.segments import compiler, repository, rules
from backend.segments.models import (
    EvaluationCause,
    Segment,
    SegmentKind,
    SegmentMember,
    SegmentSize,
    SegmentTransition,
    TransitionKind,
)
from backend.segments.schemas import PreviewIn, SegmentCreate, SegmentUpdate
from backend.tenancy import service as tenancy_service

EVALUATE_TASK = "segments.evaluate"
SAMPLE_SIZE = 20


# Schema and compilation ------------------------------------------------------------------------


async def rule_schema(session: AsyncSession, self_id: UUID | None = None) -> rules.RuleSchema:
    """What definitions may name in the session's brand."""
    attributes = {
        key: rules.Typed(a.type, tuple(a.options or ()))
        for key, a in (await profile_attributes.definitions(session)).items()
    }
    linked: dict[str, rules.LinkedSchema] = {}
    page: PageRequest | None = PageRequest(limit=200)
    while page is not None:
        tables, cursor = await profile_linked.list_tables(session, page)
        for table in tables:
            columns = {
                key: rules.Typed(d.type, tuple(d.options or ()))
                for key, d in profile_linked.definitions(table).items()
            }
            linked[table.key] = rules.LinkedSchema(table.id, columns)
        page = PageRequest(limit=200, after=tables[-1].id) if cursor and tables else None
    topics: set[str] = set()
    page = PageRequest(limit=200)
    while page is not None:
        items, cursor = await profile_consents.list_topics(session, page)
        topics.update(t.key for t in items)
        page = PageRequest(limit=200, after=items[-1].id) if cursor and items else None
    segments = {
        s.id: rules.referenced_segments(s.definition)
        for s in await repository.all_segments(session)
    }
    return rules.RuleSchema(attributes, linked, topics, segments, self_id)


async def parsed(session: AsyncSession, definition: Any, self_id: UUID | None = None) -> rules.Node:
    """The definition's typed tree; 422 naming every bad node."""
    return rules.parse(definition, await rule_schema(session, self_id))


async def context(
    session: AsyncSession,
    tenant: TenantId,
    now: dt.datetime,
    only: Sequence[UUID] | None = None,
) -> compiler.Context:
    brand = await tenancy_service.get_brand(session, tenant)
    return compiler.Context(
        tenant=tenant,
        now=now,
        dialect=dialect_of(session),
        brand_time_zone=brand.time_zone or "UTC",
        only=only,
    )


# Definitions -----------------------------------------------------------------------------------


async def list_segments(
    session: AsyncSession, page: PageRequest
) -> tuple[list[Segment], str | None]:
    return await repository.list_segments(session, page)


async def count_segments(session: AsyncSession) -> int:
    return await repository.count_segments(session)


async def get_segment(session: AsyncSession, segment_id: UUID) -> Segment:
    segment = await repository.get_segment(session, segment_id)
    if segment is None:
        raise NotFound("segment not found")
    return segment


def _checked_kind(kind: SegmentKind, definition: dict[str, Any] | None) -> None:
    if kind is SegmentKind.RULE and definition is None:
        raise InvalidInput(
            "a rule segment needs a definition", errors=[{"field": "definition", "pointer": "/"}]
        )
    if kind is SegmentKind.STATIC and definition is not None:
        raise InvalidInput(
            "a static segment has no definition: upload its members",
            errors=[{"field": "definition", "pointer": "/"}],
        )


async def _queue_evaluation(
    session: AsyncSession, tenant: TenantId, segment: Segment, cause: EvaluationCause
) -> UUID:
    evaluation_id = new_id()
    await enqueue(
        session,
        EVALUATE_TASK,
        tenant=tenant,
        segment_id=str(segment.id),
        evaluation_id=str(evaluation_id),
        cause=cause.value,
    )
    return evaluation_id


def _next_refresh(minutes: int | None, now: dt.datetime) -> dt.datetime | None:
    return None if minutes is None else now + dt.timedelta(minutes=minutes)


async def create_segment(
    session: AsyncSession, tenant: TenantId, data: SegmentCreate, *, now: dt.datetime | None = None
) -> Segment:
    """Define a segment; a rule segment is validated and queued for its first evaluation."""
    now = now or utcnow()
    _checked_kind(data.kind, data.definition)
    if data.definition is not None:
        await parsed(session, data.definition)
    if await repository.segment_by_key(session, data.key) is not None:
        raise Conflict(f"a segment {data.key!r} exists", errors=[{"field": "key"}])
    refresh = data.refresh_every_minutes if data.kind is SegmentKind.RULE else None
    segment = Segment(
        key=data.key,
        name=data.name,
        description=data.description,
        kind=data.kind,
        definition=data.definition,
        refresh_every_minutes=refresh,
        next_refresh_at=_next_refresh(refresh, now),
        member_count=0,
        version=1,
    )
    session.add(segment)
    await session.flush()
    if segment.kind is SegmentKind.RULE:
        await _queue_evaluation(session, tenant, segment, EvaluationCause.MANUAL)
    return segment


async def update_segment(
    session: AsyncSession,
    tenant: TenantId,
    segment_id: UUID,
    data: SegmentUpdate,
    *,
    now: dt.datetime | None = None,
) -> Segment:
    """Change a segment; a new definition is validated (no reference cycle) and re-evaluated."""
    now = now or utcnow()
    segment = await get_segment(session, segment_id)
    if data.definition is not msgspec.UNSET:
        _checked_kind(segment.kind, data.definition)
        await parsed(session, data.definition, segment.id)
        segment.definition = data.definition
        segment.version += 1
        await _queue_evaluation(session, tenant, segment, EvaluationCause.MANUAL)
    if data.name is not msgspec.UNSET:
        segment.name = data.name
    if data.description is not msgspec.UNSET:
        segment.description = data.description
    if data.refresh_every_minutes is not msgspec.UNSET:
        if segment.kind is SegmentKind.STATIC and data.refresh_every_minutes is not None:
            raise InvalidInput(
                "a static segment is not refreshed", errors=[{"field": "refreshEveryMinutes"}]
            )
        segment.refresh_every_minutes = data.refresh_every_minutes
        segment.next_refresh_at = _next_refresh(data.refresh_every_minutes, now)
    await session.flush()
    return segment


# Sent before a segment is deleted: a receiver whose rows still need it raises a LevierError
# (409) to keep it, or lets go of it.
SEGMENT_DELETING: Signal[[AsyncSession, Segment]] = Signal("segment_deleting")


async def delete_segment(session: AsyncSession, segment_id: UUID) -> None:
    """Delete a segment with its members, transitions and sizes; 409 while another segment's
    definition references it, or another domain still needs it (`SEGMENT_DELETING`)."""
    segment = await get_segment(session, segment_id)
    users = [
        s.key
        for s in await repository.all_segments(session)
        if s.id != segment.id and segment.id in rules.referenced_segments(s.definition)
    ]
    if users:
        raise Conflict(f"segments {', '.join(sorted(users))} reference this one")
    await signals.send(SEGMENT_DELETING, session, segment)
    await session.delete(segment)
    await session.flush()


async def evaluate_later(session: AsyncSession, tenant: TenantId, segment_id: UUID) -> UUID:
    """Queue a full evaluation of the segment; the id its sizes row will carry."""
    segment = await get_segment(session, segment_id)
    return await _queue_evaluation(session, tenant, segment, EvaluationCause.MANUAL)


# Preview ---------------------------------------------------------------------------------------


async def count_matching(
    session: AsyncSession, tenant: TenantId, definition: Any, *, now: dt.datetime | None = None
) -> int:
    """How many profiles a definition holds for now (one statement)."""
    node = await parsed(session, definition)
    ctx = await context(session, tenant, now or utcnow())
    return await repository.count(session, compiler.count_query(node, ctx))


async def preview(
    session: AsyncSession, tenant: TenantId, data: PreviewIn, *, now: dt.datetime | None = None
) -> tuple[int, list[Profile]]:
    """How many profiles an unsaved definition holds for, and the first few (by id)."""
    node = await parsed(session, data.definition)
    ctx = await context(session, tenant, now or utcnow())
    count = await repository.count(session, compiler.count_query(node, ctx))
    ids = compiler.members_query(node, ctx).order_by(Profile.__table__.c.id).limit(SAMPLE_SIZE)
    async with repository.whole_brand(session):
        query = select(Profile).where(Profile.id.in_(ids)).order_by(Profile.id)
        sample = list((await session.scalars(query)).all())
    return count, sample


# Reads -----------------------------------------------------------------------------------------


async def list_members(
    session: AsyncSession, segment_id: UUID, page: PageRequest
) -> tuple[list[SegmentMember], str | None]:
    segment = await get_segment(session, segment_id)
    return await repository.list_members(session, segment.id, page)


async def list_transitions(
    session: AsyncSession,
    segment_id: UUID,
    page: PageRequest,
    *,
    kind: TransitionKind | None = None,
    since: dt.datetime | None = None,
) -> tuple[list[SegmentTransition], str | None]:
    """A segment's transitions in the order they were recorded; ``since`` is inclusive."""
    if since is not None and since.tzinfo is None:
        raise InvalidInput(
            "expected a date and time with its UTC offset", errors=[{"field": "since"}]
        )
    segment = await get_segment(session, segment_id)
    return await repository.list_transitions(
        session, page, segment_id=segment.id, kind=kind, since=since
    )


async def list_sizes(
    session: AsyncSession, segment_id: UUID, page: PageRequest
) -> tuple[list[SegmentSize], str | None]:
    """The size at each full evaluation, oldest first (for charts)."""
    segment = await get_segment(session, segment_id)
    return await repository.list_sizes(session, segment.id, page)


async def audience(
    session: AsyncSession,
    include: Sequence[UUID],
    exclude: Sequence[UUID] = (),
    *,
    after: UUID | None = None,
    limit: int = 1000,
    only_included: bool = False,
) -> list[tuple[UUID, bool]]:
    """A page of the profiles in any of the ``include`` segments (rule or static), by profile
    id after ``after``: (profile id, whether it is in one of the ``exclude`` segments); with
    ``only_included`` only those in none of them. One query per page (a campaign's snapshot
    walks its audience with it)."""
    return await repository.audience_page(
        session, include, exclude, after=after, limit=limit, only_included=only_included
    )


async def audience_count(
    session: AsyncSession, include: Sequence[UUID], exclude: Sequence[UUID] = ()
) -> int:
    """How many profiles :func:`audience` walks with ``only_included`` (one query)."""
    return await repository.audience_count(session, include, exclude)


async def segments_of(session: AsyncSession, profile_id: UUID) -> list[Segment]:
    """The segments a profile is in now, in the order it entered them (one query)."""
    return [segment for _, segment in await repository.memberships_of(session, profile_id)]


async def segments_of_many(
    session: AsyncSession, profile_ids: Sequence[UUID]
) -> dict[UUID, list[Segment]]:
    """:func:`segments_of` of many profiles, in one query whatever their number."""
    by_profile: dict[UUID, list[Segment]] = {i: [] for i in profile_ids}
    for member, segment in await repository.memberships_of_many(session, profile_ids):
        by_profile.setdefault(member.profile_id, []).append(segment)
    return by_profile


async def profile_segments(
    session: AsyncSession, profile_id: UUID, page: PageRequest
) -> tuple[list[tuple[SegmentMember, Segment]], list[SegmentTransition], str | None]:
    """A profile's memberships and transitions (a merged id answers with the survivor)."""
    profile = await profile_service.get_profile(session, profile_id)
    memberships = await repository.memberships_of(session, profile.id)
    transitions, cursor = await repository.list_transitions(session, page, profile_id=profile.id)
    return memberships, transitions, cursor


async def matching_profiles(
    session: AsyncSession,
    tenant: TenantId,
    definition: Any,
    profile_ids: Sequence[UUID],
    *,
    now: dt.datetime | None = None,
) -> set[UUID]:
    """Which of these profiles a rule tree holds for now: the compiled statement restricted to
    them (one statement whatever their number; a scenario's condition step)."""
    only = sorted(set(profile_ids))
    if not only:
        return set()
    node = await parsed(session, definition)
    ctx = await context(session, tenant, now or utcnow(), only=only)
    rows = await session.execute(compiler.members_query(node, ctx))
    return {UUID(str(row[0])) for row in rows}
