"""Segment queries, and the set-based membership maths of an evaluation.

An evaluation stages the new member set in a temporary table (one INSERT … SELECT of the compiled
statement), then, in SQL only: ``entered`` transitions for new minus old, ``exited`` for old minus
new, the members table brought in line, the size counted. No profile passes through Python.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Column,
    Delete,
    Insert,
    MetaData,
    Select,
    String,
    Table,
    Uuid,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from backend.core.db import dialect_of, postgres_settings, start_as_writer
from backend.core.pagination import PageRequest, count_rows, paginate
from backend.segments.models import (
    Segment,
    SegmentKind,
    SegmentMember,
    SegmentSize,
    SegmentTransition,
    TransitionKind,
)
from backend.tenancy.models import Brand, BrandStatus

MEMBERS: Table = SegmentMember.__table__  # type: ignore[assignment]
TRANSITIONS: Table = SegmentTransition.__table__  # type: ignore[assignment]
# The new member set of the evaluation under way (per connection, dropped at commit on
# PostgreSQL, emptied before each use everywhere).
STAGE = Table("segment_stage", MetaData(), Column("profile_id", Uuid, nullable=False))
EXITED_OFFSET = 0x80000000  # exited rows count from here in the transition ids' last 32 bits
# PostgreSQL planner settings of a statement over a whole brand (see `whole_brand`).
WHOLE_BRAND_SETTINGS = {
    "enable_nestloop": "off",
    "work_mem": "64MB",
    "max_parallel_workers_per_gather": "0",
    "jit": "off",
}


@dataclass(frozen=True)
class Outcome:
    """What an evaluation changed."""

    evaluation_id: UUID
    size: int
    entered: int
    exited: int


# Segments --------------------------------------------------------------------------------------


async def list_segments(
    session: AsyncSession, page: PageRequest
) -> tuple[list[Segment], str | None]:
    return await paginate(session, select(Segment), Segment.id, page)


async def count_segments(session: AsyncSession) -> int:
    return await count_rows(session, select(Segment))


async def get_segment(
    session: AsyncSession, segment_id: UUID, *, lock: bool = False
) -> Segment | None:
    query = select(Segment).where(Segment.id == segment_id)
    if lock:
        await start_as_writer(session, "segments")
        query = query.with_for_update()
    return await session.scalar(query)


async def segment_by_key(session: AsyncSession, key: str) -> Segment | None:
    return await session.scalar(select(Segment).where(Segment.key == key))


async def all_segments(session: AsyncSession) -> list[Segment]:
    return list((await session.scalars(select(Segment).order_by(Segment.id))).all())


async def rule_segments(session: AsyncSession, *, lock: bool = False) -> list[Segment]:
    query = select(Segment).where(Segment.kind == SegmentKind.RULE).order_by(Segment.id)
    if lock:
        await start_as_writer(session, "segments")
        query = query.with_for_update()
    return list((await session.scalars(query)).all())


async def has_rule_segments(session: AsyncSession) -> bool:
    query = select(Segment.id).where(Segment.kind == SegmentKind.RULE).limit(1)
    return (await session.scalar(query)) is not None


async def claim_due_segments(session: AsyncSession, now: dt.datetime) -> list[Segment]:
    """Rule segments whose scheduled refresh is due, locked (skipped when another holds them)."""
    query = (
        select(Segment)
        .where(
            Segment.kind == SegmentKind.RULE,
            Segment.next_refresh_at.is_not(None),
            Segment.next_refresh_at <= now,
        )
        .order_by(Segment.next_refresh_at)
        .limit(500)
        .with_for_update(skip_locked=True)
    )
    return list((await session.scalars(query)).all())


# Members, transitions, sizes --------------------------------------------------------------------


async def list_members(
    session: AsyncSession, segment_id: UUID, page: PageRequest
) -> tuple[list[SegmentMember], str | None]:
    query = select(SegmentMember).where(SegmentMember.segment_id == segment_id)
    return await paginate(session, query, SegmentMember.profile_id, page)


async def list_transitions(
    session: AsyncSession,
    page: PageRequest,
    *,
    segment_id: UUID | None = None,
    profile_id: UUID | None = None,
    kind: TransitionKind | None = None,
    since: dt.datetime | None = None,
) -> tuple[list[SegmentTransition], str | None]:
    query = select(SegmentTransition)
    if segment_id is not None:
        query = query.where(SegmentTransition.segment_id == segment_id)
    if profile_id is not None:
        query = query.where(SegmentTransition.profile_id == profile_id)
    if kind is not None:
        query = query.where(SegmentTransition.kind == kind)
    if since is not None:
        query = query.where(SegmentTransition.occurred_at >= since)
    return await paginate(session, query, SegmentTransition.id, page)


async def transitions_after(
    session: AsyncSession, evaluation_id: UUID, after: UUID | None, limit: int
) -> list[SegmentTransition]:
    query = select(SegmentTransition).where(SegmentTransition.evaluation_id == evaluation_id)
    if after is not None:
        query = query.where(SegmentTransition.id > after)
    query = query.order_by(SegmentTransition.id).limit(limit)
    return list((await session.scalars(query)).all())


async def list_sizes(
    session: AsyncSession, segment_id: UUID, page: PageRequest
) -> tuple[list[SegmentSize], str | None]:
    query = select(SegmentSize).where(SegmentSize.segment_id == segment_id)
    return await paginate(session, query, SegmentSize.id, page)


async def size_exists(session: AsyncSession, evaluation_id: UUID) -> bool:
    query = select(SegmentSize.id).where(SegmentSize.id == evaluation_id)
    return (await session.scalar(query)) is not None


async def audience_page(
    session: AsyncSession,
    include: Sequence[UUID],
    exclude: Sequence[UUID],
    *,
    after: UUID | None,
    limit: int,
    only_included: bool,
) -> list[tuple[UUID, bool]]:
    """Members of any of ``include``, by profile id after ``after``: (profile, in one of
    ``exclude``), at most ``limit``; with ``only_included`` those in none of ``exclude`` only."""
    if not include:
        return []
    other = aliased(SegmentMember)
    excluded = (
        exists().where(
            other.segment_id.in_(list(exclude)), other.profile_id == SegmentMember.profile_id
        )
        if exclude
        else literal(False)
    )
    query = select(SegmentMember.profile_id, excluded).where(
        SegmentMember.segment_id.in_(list(include))
    )
    if after is not None:
        query = query.where(SegmentMember.profile_id > after)
    if only_included and exclude:
        query = query.where(~excluded)
    query = query.distinct().order_by(SegmentMember.profile_id).limit(limit)
    return [(profile_id, bool(out)) for profile_id, out in (await session.execute(query)).all()]


async def audience_count(
    session: AsyncSession, include: Sequence[UUID], exclude: Sequence[UUID]
) -> int:
    """How many profiles are in any of ``include`` and in none of ``exclude`` (one query)."""
    if not include:
        return 0
    other = aliased(SegmentMember)
    members = select(SegmentMember.profile_id).where(SegmentMember.segment_id.in_(list(include)))
    if exclude:
        members = members.where(
            ~exists().where(
                other.segment_id.in_(list(exclude)), other.profile_id == SegmentMember.profile_id
            )
        )
    query = select(func.count()).select_from(members.distinct().subquery())
    return int(await session.scalar(query) or 0)


async def memberships_of_many(
    session: AsyncSession, profile_ids: Sequence[UUID]
) -> list[tuple[SegmentMember, Segment]]:
    """The memberships of these profiles, each profile's in the order it entered them."""
    if not profile_ids:
        return []
    query = (
        select(SegmentMember, Segment)
        .join(
            Segment,
            (Segment.tenant_id == SegmentMember.tenant_id)
            & (Segment.id == SegmentMember.segment_id),
        )
        .where(SegmentMember.profile_id.in_(profile_ids))
        .order_by(SegmentMember.entered_at, SegmentMember.segment_id)
    )
    return [(m, s) for m, s in (await session.execute(query)).all()]


async def memberships_of(
    session: AsyncSession, profile_id: UUID
) -> list[tuple[SegmentMember, Segment]]:
    query = (
        select(SegmentMember, Segment)
        .join(
            Segment,
            (Segment.tenant_id == SegmentMember.tenant_id)
            & (Segment.id == SegmentMember.segment_id),
        )
        .where(SegmentMember.profile_id == profile_id)
        .order_by(SegmentMember.entered_at, SegmentMember.segment_id)
    )
    return [(m, s) for m, s in (await session.execute(query)).all()]


async def member_count(session: AsyncSession, tenant: UUID, segment_id: UUID) -> int:
    query = (
        select(func.count())
        .select_from(MEMBERS)
        .where(MEMBERS.c.tenant_id == tenant, MEMBERS.c.segment_id == segment_id)
    )
    return int(await session.scalar(query) or 0)


# The membership maths ---------------------------------------------------------------------------


async def prepare_stage(session: AsyncSession) -> None:
    """An empty staging table on the session's connection."""
    if dialect_of(session) == "postgresql":
        await session.execute(
            text(
                "CREATE TEMPORARY TABLE IF NOT EXISTS segment_stage "
                "(profile_id uuid NOT NULL) ON COMMIT DROP"
            )
        )
        await session.execute(text("TRUNCATE segment_stage"))
    else:
        await session.execute(
            text(
                "CREATE TEMPORARY TABLE IF NOT EXISTS segment_stage "
                "(profile_id CHAR(32) NOT NULL PRIMARY KEY)"
            )
        )
        await session.execute(text("DELETE FROM segment_stage"))


def whole_brand(session: AsyncSession) -> contextlib.AbstractAsyncContextManager[None]:
    """PostgreSQL settings for a statement over every profile of a brand, for its duration.

    Conditions on JSON attributes get the planner's default selectivity (0.5 %), so it expects
    a handful of profiles and nests loops over grouped subqueries that it then re-runs per
    profile (minutes instead of a second). A brand-wide segment is a set operation: hash joins,
    and memory for their hash tables. Parallel workers are off too: with those estimates each
    worker rebuilt every grouped subquery in full (three times the work on two cores), and JIT
    compilation cost more (1.5 s) than it saved.
    """
    return postgres_settings(session, WHOLE_BRAND_SETTINGS)


async def count(session: AsyncSession, query: Select[Any]) -> int:
    """The count of a whole-brand statement."""
    async with whole_brand(session):
        return int(await session.scalar(query) or 0)


async def stage(session: AsyncSession, rows: Select[Any], *, whole: bool = True) -> int:
    """Stage the new member set (``rows`` selects profile ids); how many. ``whole``: the
    statement covers the whole brand (not a few profiles)."""
    statement = insert(STAGE).from_select(["profile_id"], rows)
    if whole:
        async with whole_brand(session):
            result = await session.execute(statement)
    else:
        result = await session.execute(statement)
    staged = int(getattr(result, "rowcount", 0) or 0)
    if dialect_of(session) == "postgresql":
        await session.execute(text("ANALYZE segment_stage"))
    return staged


async def stage_ids(session: AsyncSession, profile_ids: Sequence[UUID]) -> None:
    """Stage a given list of profile ids (a static upload), without duplicates."""
    unique = sorted(set(profile_ids))
    for start in range(0, len(unique), 5000):
        chunk = unique[start : start + 5000]
        await session.execute(insert(STAGE), [{"profile_id": i} for i in chunk])


def _transition_id(session: AsyncSession, evaluation_id: UUID, number: Any) -> Any:
    """A time-ordered id per row: the evaluation's id with its last 32 bits the row's number."""
    if dialect_of(session) == "postgresql":
        prefix = str(evaluation_id)[:28]
        return cast(literal(prefix) + func.lpad(func.to_hex(number), 8, "0"), Uuid)
    return literal(evaluation_id.hex[:24], String) + func.printf("%08x", number)


async def apply_stage(
    session: AsyncSession,
    tenant: UUID,
    segment_id: UUID,
    evaluation_id: UUID,
    now: dt.datetime,
    *,
    only: Sequence[UUID] | None = None,
    exits: bool = True,
) -> tuple[int, int]:
    """Record the transitions between the members and the staged set, then make the staged set
    the members (within ``only`` when given; without ``exits``, staged rows only add). Returns
    (entered, exited)."""
    stage_row = STAGE.c.profile_id
    is_member = exists().where(
        MEMBERS.c.tenant_id == tenant,
        MEMBERS.c.segment_id == segment_id,
        MEMBERS.c.profile_id == stage_row,
    )
    number = func.row_number().over()
    entered_rows = select(
        literal(tenant, Uuid),
        _transition_id(session, evaluation_id, number),
        literal(segment_id, Uuid),
        stage_row,
        literal(TransitionKind.ENTERED.value),
        literal(now, SegmentTransition.__table__.c.occurred_at.type),
        literal(evaluation_id, Uuid),
    ).where(~is_member)
    columns = [
        "tenant_id",
        "id",
        "segment_id",
        "profile_id",
        "kind",
        "occurred_at",
        "evaluation_id",
    ]
    entered = await _rowcount(session, insert(TRANSITIONS).from_select(columns, entered_rows))
    exited = 0
    if exits:
        staged = exists().where(STAGE.c.profile_id == MEMBERS.c.profile_id)
        old = [MEMBERS.c.tenant_id == tenant, MEMBERS.c.segment_id == segment_id, ~staged]
        if only is not None:
            old.append(MEMBERS.c.profile_id.in_(list(only)))
        exited_rows = select(
            literal(tenant, Uuid),
            _transition_id(session, evaluation_id, number + EXITED_OFFSET),
            literal(segment_id, Uuid),
            MEMBERS.c.profile_id,
            literal(TransitionKind.EXITED.value),
            literal(now, SegmentTransition.__table__.c.occurred_at.type),
            literal(evaluation_id, Uuid),
        ).where(*old)
        exited = await _rowcount(session, insert(TRANSITIONS).from_select(columns, exited_rows))
    if exited:
        await session.execute(_leave(tenant, segment_id, evaluation_id))
    if entered:
        await session.execute(_join(tenant, segment_id, evaluation_id))
    return entered, exited


def _of_evaluation(
    tenant: UUID, segment_id: UUID, evaluation_id: UUID, kind: TransitionKind
) -> Select[Any]:
    return select(TRANSITIONS.c.profile_id).where(
        TRANSITIONS.c.tenant_id == tenant,
        TRANSITIONS.c.evaluation_id == evaluation_id,
        TRANSITIONS.c.segment_id == segment_id,
        TRANSITIONS.c.kind == kind.value,
    )


def _leave(tenant: UUID, segment_id: UUID, evaluation_id: UUID) -> Delete:
    gone = _of_evaluation(tenant, segment_id, evaluation_id, TransitionKind.EXITED)
    return delete(MEMBERS).where(
        MEMBERS.c.tenant_id == tenant,
        MEMBERS.c.segment_id == segment_id,
        MEMBERS.c.profile_id.in_(gone),
    )


def _join(tenant: UUID, segment_id: UUID, evaluation_id: UUID) -> Insert:
    rows = select(
        TRANSITIONS.c.tenant_id,
        TRANSITIONS.c.segment_id,
        TRANSITIONS.c.profile_id,
        TRANSITIONS.c.occurred_at,
    ).where(
        TRANSITIONS.c.tenant_id == tenant,
        TRANSITIONS.c.evaluation_id == evaluation_id,
        TRANSITIONS.c.segment_id == segment_id,
        TRANSITIONS.c.kind == TransitionKind.ENTERED.value,
    )
    return insert(MEMBERS).from_select(
        ["tenant_id", "segment_id", "profile_id", "entered_at"], rows
    )


async def _rowcount(session: AsyncSession, statement: Any) -> int:
    result = await session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)


async def set_member_count(
    session: AsyncSession, segment: Segment, count: int, now: dt.datetime
) -> None:
    await session.execute(
        update(Segment)
        .where(Segment.id == segment.id)
        .values(member_count=count, last_evaluated_at=now)
        .execution_options(synchronize_session=False)
    )


# Profiles leaving or merging --------------------------------------------------------------------


async def repoint_profile_rows(
    session: AsyncSession, merged_id: UUID, survivor_id: UUID
) -> list[UUID]:
    """Move the merged profile's memberships (unless the survivor is a member too) and
    transitions to the survivor; the segments where both were members (one member less)."""
    survivor_segments = select(SegmentMember.segment_id).where(
        SegmentMember.profile_id == survivor_id
    )
    both = list(
        (
            await session.scalars(
                select(SegmentMember.segment_id).where(
                    SegmentMember.profile_id == merged_id,
                    SegmentMember.segment_id.in_(survivor_segments),
                )
            )
        ).all()
    )
    await session.execute(
        delete(SegmentMember)
        .where(
            SegmentMember.profile_id == merged_id, SegmentMember.segment_id.in_(survivor_segments)
        )
        .execution_options(synchronize_session=False)
    )
    for model in (SegmentMember, SegmentTransition):
        await session.execute(
            update(model)
            .where(model.profile_id == merged_id)
            .values(profile_id=survivor_id)
            .execution_options(synchronize_session=False)
        )
    return both


async def delete_profile_rows(session: AsyncSession, profile_id: UUID) -> list[UUID]:
    """Delete a profile's memberships and transitions; the segments it was a member of."""
    segments = list(
        (
            await session.scalars(
                select(SegmentMember.segment_id).where(SegmentMember.profile_id == profile_id)
            )
        ).all()
    )
    for model in (SegmentMember, SegmentTransition):
        await session.execute(
            delete(model)
            .where(model.profile_id == profile_id)
            .execution_options(synchronize_session=False)
        )
    return segments


async def active_brand_ids(session: AsyncSession) -> list[UUID]:
    """The brands whose segments the scheduled refresh looks at (the platform's brand list)."""
    query = select(Brand.id).where(Brand.status == BrandStatus.ACTIVE).order_by(Brand.id)
    return list((await session.scalars(query)).all())
