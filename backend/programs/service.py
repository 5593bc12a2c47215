"""Programs: a brand's marketing objectives, made by hand or from the catalog of templates,
their status, and the coverage map of lifecycle stages and moments of truth. Services never
commit.

Campaigns and scenarios name the program they serve (their own ``program_id``): they check it
with :func:`require_program`, and tell a deletion whether they still name it by receiving
:data:`PROGRAM_DELETING` (a program something names is archived instead of deleted).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import Counter
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.db import utcnow
from backend.core.errors import Conflict, InvalidInput, NotFound
from backend.core.pagination import PageRequest
from backend.core.signals import Signal, Signals, signals
from backend.core.tenancy import TenantId
from backend.programs import catalog, repository
from backend.programs.catalog import ProgramTemplate
from backend.programs.models import TRANSITIONS, Program, ProgramStatus
from backend.programs.schemas import (
    ProgramCoverageOut,
    ProgramCreate,
    ProgramInstantiate,
    ProgramOverrides,
    ProgramTemplateOut,
    ProgramUpdate,
)
from backend.programs.vocabulary import LifecycleStage, MomentOfTruth
from backend.segments import service as segments_service
from backend.segments.models import Segment
from backend.segments.schemas import SegmentCreate
from backend.tenancy import service as tenancy_service

AUDIENCE_KEY_ATTEMPTS = 100


class ProgramArchived(Conflict):
    slug, title = "program-archived", "Program archived"


class StatusChangeRefused(Conflict):
    slug, title = "program-status-change", "Status change refused"


@dataclass
class ProgramUsage:
    """What still names a program, by kind (``campaigns``, ``scenarios``): filled by the
    receivers of :data:`PROGRAM_DELETING`."""

    counts: Counter[str] = field(default_factory=Counter)

    def add(self, kind: str, count: int) -> None:
        if count:
            self.counts[kind] += count

    @property
    def total(self) -> int:
        return sum(self.counts.values())


# Sent before a program is deleted: each receiver adds how many of its rows name the program
# (`usage.add("campaigns", n)`). When any does, the program is archived instead.
PROGRAM_DELETING: Signal[[AsyncSession, Program, ProgramUsage]] = Signal("program_deleting")


# Reads -----------------------------------------------------------------------------------------


async def list_programs(
    session: AsyncSession,
    page: PageRequest,
    *,
    stage: LifecycleStage | None = None,
    status: ProgramStatus | None = None,
) -> tuple[list[Program], str | None]:
    return await repository.list_programs(session, page, stage=stage, status=status)


async def count_programs(
    session: AsyncSession,
    *,
    stage: LifecycleStage | None = None,
    status: ProgramStatus | None = None,
) -> int:
    return await repository.count_programs(session, stage=stage, status=status)


async def get_program(session: AsyncSession, program_id: UUID, *, lock: bool = False) -> Program:
    """A program of the session's brand, archived or not (locked for a change with ``lock``);
    404 otherwise."""
    program = await repository.get_program(session, program_id, lock=lock)
    if program is None:
        raise NotFound("program not found")
    return program


async def require_program(
    session: AsyncSession, program_id: UUID, *, allow_archived: bool = False
) -> Program:
    """The program a campaign or scenario names: 404 when the session's brand has none with
    this id, 409 `program-archived` when it was archived (unless ``allow_archived``, to read)."""
    program = await get_program(session, program_id)
    if program.archived_at is not None and not allow_archived:
        raise ProgramArchived("the program was deleted (archived): nothing joins it any more")
    return program


async def check_program_reference(session: AsyncSession, program_id: UUID | None) -> None:
    """A campaign or scenario about to name ``program_id``: 422 at `/programId` when the brand
    has no program with this id, 409 `program-archived` when it was deleted (archived)."""
    if program_id is None:
        return
    try:
        await require_program(session, program_id)
    except NotFound as exc:
        raise InvalidInput(
            "the program does not exist",
            errors=[
                {
                    "field": "programId",
                    "pointer": "/programId",
                    "message": "no program of this brand has this id",
                }
            ],
        ) from exc


# Validation ------------------------------------------------------------------------------------


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(message, errors=[{"field": field, "pointer": f"/{field}"}])


def _check_dates(start: dt.date | None, end: dt.date | None) -> None:
    if start is not None and end is not None and end < start:
        raise _invalid("endDate", "endDate is before startDate")


def _check_lists(kpis: list[Any], moments: list[MomentOfTruth]) -> None:
    names = [kpi.name for kpi in kpis]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise _invalid("kpis", f"two KPIs are named {repeated[0]!r}")
    if len(set(moments)) != len(moments):
        raise _invalid("momentsOfTruth", "a moment of truth is listed twice")


async def _check_owner(session: AsyncSession, tenant: TenantId, owner_id: UUID | None) -> None:
    # One answer whatever the reason (no such user, another agency, no role on the brand): the
    # existence of users out of the caller's reach is not confirmed.
    if owner_id is not None and not await tenancy_service.user_reaches_brand(
        session, tenant, owner_id
    ):
        raise _invalid("ownerId", "ownerId names no user who may reach this brand")


async def _check_audience(session: AsyncSession, segment_id: UUID | None) -> None:
    if segment_id is None:
        return
    try:
        await segments_service.get_segment(session, segment_id)
    except NotFound:
        raise _invalid(
            "audienceSegmentId", "audienceSegmentId names no segment of this brand"
        ) from None


def _live(program: Program) -> Program:
    if program.archived_at is not None:
        raise ProgramArchived("the program was deleted (archived): it no longer changes")
    return program


# Writes ----------------------------------------------------------------------------------------


async def create_program(
    session: AsyncSession,
    tenant: TenantId,
    data: ProgramCreate,
    *,
    template_key: str | None = None,
) -> Program:
    """A program in `draft` (owner, audience, dates and KPIs checked first)."""
    _check_dates(data.start_date, data.end_date)
    _check_lists(data.kpis, data.moments_of_truth)
    await _check_owner(session, tenant, data.owner_id)
    await _check_audience(session, data.audience_segment_id)
    program = Program(
        name=data.name,
        objective=data.objective,
        stage=data.stage,
        kpis=msgspec.to_builtins(data.kpis),
        owner_id=data.owner_id,
        start_date=data.start_date,
        end_date=data.end_date,
        status=ProgramStatus.DRAFT,
        moments_of_truth=[m.value for m in data.moments_of_truth],
        template_key=template_key,
        audience_segment_id=data.audience_segment_id,
    )
    session.add(program)
    await session.flush()
    return program


async def update_program(
    session: AsyncSession, tenant: TenantId, program_id: UUID, data: ProgramUpdate
) -> Program:
    """Change a live program's fields (an archived one answers 409)."""
    program = _live(await get_program(session, program_id, lock=True))
    start = program.start_date if data.start_date is msgspec.UNSET else data.start_date
    end = program.end_date if data.end_date is msgspec.UNSET else data.end_date
    _check_dates(start, end)
    _check_lists(
        [] if data.kpis is msgspec.UNSET else data.kpis,
        [] if data.moments_of_truth is msgspec.UNSET else data.moments_of_truth,
    )
    if data.owner_id is not msgspec.UNSET:
        await _check_owner(session, tenant, data.owner_id)
        program.owner_id = data.owner_id
    if data.audience_segment_id is not msgspec.UNSET:
        await _check_audience(session, data.audience_segment_id)
        program.audience_segment_id = data.audience_segment_id
    if data.kpis is not msgspec.UNSET:
        program.kpis = msgspec.to_builtins(data.kpis)
    if data.moments_of_truth is not msgspec.UNSET:
        program.moments_of_truth = [m.value for m in data.moments_of_truth]
    for name in ("name", "objective", "stage"):
        value = getattr(data, name)
        if value is not msgspec.UNSET:
            setattr(program, name, value)
    program.start_date, program.end_date = start, end
    await session.flush()
    return program


async def delete_program(session: AsyncSession, program_id: UUID) -> Program | None:
    """Delete a program; when campaigns or scenarios still name it, archive it instead (it
    ends if it was running) and return it."""
    program = await get_program(session, program_id, lock=True)
    if program.archived_at is not None:
        return program
    usage = ProgramUsage()
    await signals.send(PROGRAM_DELETING, session, program, usage)
    if usage.total == 0:
        await session.delete(program)
        await session.flush()
        return None
    now = utcnow()
    program.archived_at = now
    if program.status in (ProgramStatus.ACTIVE, ProgramStatus.PAUSED):
        program.status, program.status_changed_at = ProgramStatus.ENDED, now
    await session.flush()
    return program


async def brand_today(session: AsyncSession, tenant: TenantId) -> dt.date:
    """Today's date where the brand is (its time zone)."""
    brand = await tenancy_service.get_brand(session, tenant)
    return utcnow().astimezone(zoneinfo.ZoneInfo(brand.time_zone or "UTC")).date()


async def change_status(
    session: AsyncSession, tenant: TenantId, program_id: UUID, target: ProgramStatus
) -> Program:
    """Move a program along draft → active ⇄ paused → ended (409 `program-status-change`
    otherwise); a program whose end date has passed cannot become active."""
    program = _live(await get_program(session, program_id, lock=True))
    if target not in TRANSITIONS[program.status]:
        raise StatusChangeRefused(f"a {program.status.value} program cannot become {target.value}")
    ending = program.end_date
    if target is ProgramStatus.ACTIVE and ending and ending < await brand_today(session, tenant):
        raise StatusChangeRefused(
            f"the program's end date ({ending.isoformat()}) has passed: change it first"
        )
    program.status, program.status_changed_at = target, utcnow()
    await session.flush()
    return program


# Templates -------------------------------------------------------------------------------------


async def list_templates(
    session: AsyncSession,
    *,
    stage: LifecycleStage | None = None,
    moment: MomentOfTruth | None = None,
) -> list[ProgramTemplateOut]:
    """The catalog (at ``stage``, serving ``moment`` when given), each template with how many
    of the brand's live programs came from it."""
    counts = await repository.counts_by_template(session)
    return [
        ProgramTemplateOut.of_template(template, counts.get(template.key, 0))
        for template in catalog.serving(stage=stage, moment=moment)
    ]


def _template(key: str, *, field: str | None = None) -> ProgramTemplate:
    template = catalog.find(key)
    if template is None:
        if field is not None:
            raise _invalid(field, f"no program template has the key {key!r}")
        raise NotFound("program template not found")
    return template


async def get_template(session: AsyncSession, key: str) -> ProgramTemplateOut:
    template = _template(key)
    counts = await repository.counts_by_template(session)
    return ProgramTemplateOut.of_template(template, counts.get(template.key, 0))


def _from_template(template: ProgramTemplate, overrides: ProgramOverrides) -> ProgramCreate:
    values: dict[str, Any] = {
        "name": template.name,
        "objective": template.objective,
        "stage": template.stage,
        "kpis": list(template.kpis),
        "moments_of_truth": list(template.moments_of_truth),
    }
    for name in overrides.__struct_fields__:
        value = getattr(overrides, name)
        if value is not msgspec.UNSET:
            values[name] = value
    # By attribute: the struct's Python names, as the overrides hold them.
    return msgspec.convert(SimpleNamespace(**values), ProgramCreate, from_attributes=True)


async def _define_audience(
    session: AsyncSession, tenant: TenantId, template: ProgramTemplate, program_name: str
) -> Segment:
    """A rule segment from the template's suggested audience, keyed `program_<key>` (then
    `program_<key>_2`, `_3`… when taken)."""
    base = f"program_{template.key}"[:60]
    for attempt in range(1, AUDIENCE_KEY_ATTEMPTS + 1):
        key = base if attempt == 1 else f"{base}_{attempt}"
        data = SegmentCreate(
            key=key,
            name=f"{program_name} — audience"[:200],
            description=f"The suggested audience of the {template.name} program template.",
            definition=dict(template.audience_rule),
        )
        try:
            return await segments_service.create_segment(session, tenant, data)
        except Conflict:
            continue  # the key is taken: nothing was stored, try the next one
    raise Conflict(f"segment keys {base} to {base}_{AUDIENCE_KEY_ATTEMPTS} are all taken")


async def instantiate(session: AsyncSession, tenant: TenantId, data: ProgramInstantiate) -> Program:
    """A program from a catalog template in one step: the template's fields with the
    overrides, and with `createAudience` a rule segment of its suggested audience, recorded as
    the program's audience. All of it or nothing."""
    template = _template(data.template_key, field="templateKey")
    create = _from_template(template, data.overrides)
    if data.create_audience:
        if create.audience_segment_id is not None:
            raise _invalid(
                "createAudience",
                "createAudience and overrides.audienceSegmentId exclude each other",
            )
        # The program's own checks first: a refused program leaves no segment behind either way
        # (one transaction), but this spares the work.
        _check_dates(create.start_date, create.end_date)
        _check_lists(create.kpis, create.moments_of_truth)
        await _check_owner(session, tenant, create.owner_id)
        segment = await _define_audience(session, tenant, template, create.name)
        create = msgspec.structs.replace(create, audience_segment_id=segment.id)
    return await create_program(session, tenant, create, template_key=template.key)


# Coverage --------------------------------------------------------------------------------------


async def coverage(session: AsyncSession, tenant: TenantId) -> ProgramCoverageOut:
    """Which stages and moments of truth the programs running today (active, within their
    dates, in the brand's time zone) cover, and the templates that would fill each gap."""
    today = await brand_today(session, tenant)
    running = await repository.running_on(session, today)
    return ProgramCoverageOut.of_programs(today, running, catalog.TEMPLATES)


# Receivers -------------------------------------------------------------------------------------


async def keep_audiences(session: AsyncSession, segment: Segment) -> None:
    """A segment that is a live program's audience stays (409 naming the programs); archived
    programs let go of it."""
    programs = await repository.with_audience(session, segment.id)
    live = sorted(p.name for p in programs if p.archived_at is None)
    if live:
        raise Conflict(
            f"the segment is the audience of programs {', '.join(map(repr, live))}: "
            "give them another audience first"
        )
    await repository.forget_audience(session, [p.id for p in programs])


def connect(registry: Signals) -> None:
    registry.connect(segments_service.SEGMENT_DELETING, keep_audiences)
