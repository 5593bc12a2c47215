"""Queries of programs (the session adds the brand to each)."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.db import start_as_writer
from backend.core.pagination import PageRequest, count_rows, paginate
from backend.programs.models import Program, ProgramStatus
from backend.programs.vocabulary import LifecycleStage

_LIVE = Program.archived_at.is_(None)


def _listed(stage: LifecycleStage | None, status: ProgramStatus | None) -> Select[Program]:
    query = select(Program).where(_LIVE)
    if stage is not None:
        query = query.where(Program.stage == stage)
    if status is not None:
        query = query.where(Program.status == status)
    return query


async def list_programs(
    session: AsyncSession,
    page: PageRequest,
    *,
    stage: LifecycleStage | None = None,
    status: ProgramStatus | None = None,
) -> tuple[list[Program], str | None]:
    """Live programs (an archived one is read by id only), in creation order."""
    return await paginate(session, _listed(stage, status), Program.id, page)


async def count_programs(
    session: AsyncSession,
    *,
    stage: LifecycleStage | None = None,
    status: ProgramStatus | None = None,
) -> int:
    return await count_rows(session, _listed(stage, status))


async def get_program(
    session: AsyncSession, program_id: UUID, *, lock: bool = False
) -> Program | None:
    """The program; with ``lock``, held until the transaction ends (changes of one program
    happen one after the other: a status change reads the status it moves from)."""
    query = select(Program).where(Program.id == program_id)
    if lock:
        await start_as_writer(session, "programs")
        query = query.with_for_update()
    return await session.scalar(query)


async def running_on(session: AsyncSession, day: dt.date) -> list[Program]:
    """The live, active programs whose dates hold ``day`` (an open date holds every day)."""
    query = (
        select(Program)
        .where(
            _LIVE,
            Program.status == ProgramStatus.ACTIVE,
            or_(Program.start_date.is_(None), Program.start_date <= day),
            or_(Program.end_date.is_(None), Program.end_date >= day),
        )
        .order_by(Program.id)
    )
    return list((await session.scalars(query)).all())


async def counts_by_template(session: AsyncSession) -> dict[str, int]:
    """How many live programs came from each template."""
    query = (
        select(Program.template_key, func.count())
        .where(_LIVE, Program.template_key.is_not(None))
        .group_by(Program.template_key)
    )
    return {str(key): int(count) for key, count in (await session.execute(query)).all()}


async def with_audience(session: AsyncSession, segment_id: UUID) -> list[Program]:
    query = select(Program).where(Program.audience_segment_id == segment_id).order_by(Program.id)
    return list((await session.scalars(query)).all())


async def forget_audience(session: AsyncSession, program_ids: list[UUID]) -> None:
    if program_ids:
        await session.execute(
            update(Program)
            .where(Program.id.in_(program_ids))
            .values(audience_segment_id=None)
            .execution_options(synchronize_session="fetch")
        )
