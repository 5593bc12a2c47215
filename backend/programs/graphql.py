"""GraphQL of programs: the REST shapes (derived from `backend.programs.schemas`) and the same
services. Expected failures of mutations (a 422 naming the field, a refused status change, an
archived program) are the `OperationError` member of their result union."""

from __future__ import annotations

from uuid import UUID

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.scalars import JSON

from backend.core.graphql_entities import entity_type, graphql_enum, input_type, struct_of
from backend.core.graphql_fields import BrandUnit, brand_mutation, brand_query
from backend.core.graphql_results import Deleted, parse_id
from backend.core.relay import Connection, Node
from backend.programs import service
from backend.programs.models import ProgramStatus
from backend.programs.schemas import (
    CoveringProgram,
    MomentCoverage,
    ProgramCoverageOut,
    ProgramCreate,
    ProgramInstantiate,
    ProgramKpi,
    ProgramKpiIn,
    ProgramOut,
    ProgramOverrides,
    ProgramTemplateOut,
    ProgramUpdate,
    StageCoverage,
    SuggestedProgramTemplate,
)
from backend.programs.vocabulary import KpiMetric, LifecycleStage, MomentOfTruth

READ, WRITE = "programs:read", "programs:write"
graphql_enum(LifecycleStage)
graphql_enum(ProgramStatus)
graphql_enum(MomentOfTruth)
graphql_enum(KpiMetric)


async def _load_program(session: AsyncSession, program_id: UUID) -> ProgramOut:
    return ProgramOut.of(await service.get_program(session, program_id))


@entity_type(ProgramKpi, name="ProgramKpi")
class ProgramKpiType:
    pass


@entity_type(ProgramOut, name="Program", node=(READ, _load_program))
class ProgramType(Node):
    """A marketing objective of the brand at one lifecycle stage."""


@entity_type(ProgramTemplateOut, name="ProgramTemplate")
class ProgramTemplateType:
    """A ready program of the platform's catalog."""

    audience_rule: JSON = strawberry.field(
        description="The suggested audience, in the segment rule language."
    )
    skeleton: JSON | None = strawberry.field(
        description="The campaign or scenario that serves it, as data (see the README)."
    )


@entity_type(CoveringProgram, name="CoveringProgram")
class CoveringProgramType:
    pass


@entity_type(SuggestedProgramTemplate, name="SuggestedProgramTemplate")
class SuggestedProgramTemplateType:
    pass


@entity_type(StageCoverage, name="StageCoverage")
class StageCoverageType:
    pass


@entity_type(MomentCoverage, name="MomentCoverage")
class MomentCoverageType:
    pass


@entity_type(ProgramCoverageOut, name="ProgramCoverage")
class ProgramCoverageType:
    pass


@input_type(ProgramKpiIn, name="ProgramKpiInput")
class ProgramKpiInput:
    pass


@input_type(ProgramCreate, name="CreateProgramInput")
class CreateProgramInput:
    pass


@input_type(ProgramUpdate, name="UpdateProgramInput")
class UpdateProgramInput:
    id: strawberry.ID


@input_type(ProgramOverrides, name="ProgramOverridesInput")
class ProgramOverridesInput:
    pass


@input_type(ProgramInstantiate, name="InstantiateProgramInput")
class InstantiateProgramInput:
    pass


@strawberry.input(description="Names one program.")
class ProgramIdInput:
    id: strawberry.ID


@strawberry.type
class ProgramsQuery:
    @brand_query(READ)
    async def programs(
        self,
        unit: BrandUnit,
        first: int = 50,
        after: str | None = None,
        stage: LifecycleStage | None = None,
        status: ProgramStatus | None = None,
    ) -> Connection[ProgramType]:
        """The brand's live programs, in creation order (at one stage, in one status)."""
        page = unit.page(first, after)
        items, cursor = await service.list_programs(unit.session, page, stage=stage, status=status)

        async def count(session: AsyncSession) -> int:
            return await service.count_programs(session, stage=stage, status=status)

        return unit.connection(ProgramOut.many(items), cursor, page, count=count)

    @brand_query(READ, missing_is_null=True)
    async def program(self, unit: BrandUnit, id: strawberry.ID) -> ProgramType | None:
        """One program, archived or not (null when the brand has none with this id)."""
        return await _load_program(unit.session, parse_id(id, "Program"))

    @brand_query(READ)
    async def program_templates(
        self,
        unit: BrandUnit,
        stage: LifecycleStage | None = None,
        moment: MomentOfTruth | None = None,
    ) -> list[ProgramTemplateType]:
        """The catalog of ready programs (a fixed list of 23, not paged), with how many of the
        brand's programs came from each."""
        return await service.list_templates(unit.session, stage=stage, moment=moment)

    @brand_query(READ, missing_is_null=True)
    async def program_template(self, unit: BrandUnit, key: str) -> ProgramTemplateType | None:
        """One template by its key (null for an unknown key)."""
        return await service.get_template(unit.session, key)

    @brand_query(READ)
    async def program_coverage(self, unit: BrandUnit) -> ProgramCoverageType:
        """Which lifecycle stages and moments of truth the programs running today cover; for
        each gap, the templates that would fill it."""
        return await service.coverage(unit.session, unit.tenant)


@strawberry.type
class ProgramsMutation:
    @brand_mutation(WRITE)
    async def create_program(self, unit: BrandUnit, input: CreateProgramInput) -> ProgramType:
        """Create a program in draft."""
        data = struct_of(ProgramCreate, input)
        return ProgramOut.of(await service.create_program(unit.session, unit.tenant, data))

    @brand_mutation(WRITE)
    async def instantiate_program(
        self, unit: BrandUnit, input: InstantiateProgramInput
    ) -> ProgramType:
        """Create a program from a catalog template (optionally with its suggested audience
        as a new rule segment), all or nothing."""
        data = struct_of(ProgramInstantiate, input)
        return ProgramOut.of(await service.instantiate(unit.session, unit.tenant, data))

    @brand_mutation(WRITE)
    async def update_program(self, unit: BrandUnit, input: UpdateProgramInput) -> ProgramType:
        """Change a program's fields."""
        program = await service.update_program(
            unit.session,
            unit.tenant,
            parse_id(input.id, "Program"),
            struct_of(ProgramUpdate, input),
        )
        return ProgramOut.of(program)

    @brand_mutation(WRITE)
    async def delete_program(self, unit: BrandUnit, input: ProgramIdInput) -> Deleted | ProgramType:
        """Delete a program: `Deleted`, or the archived `Program` while campaigns or scenarios
        still name it."""
        archived = await service.delete_program(unit.session, parse_id(input.id, "Program"))
        return Deleted(id=input.id) if archived is None else ProgramOut.of(archived)

    @brand_mutation(WRITE)
    async def activate_program(self, unit: BrandUnit, input: ProgramIdInput) -> ProgramType:
        """Make a draft or paused program active."""
        return await _status(unit, input, ProgramStatus.ACTIVE)

    @brand_mutation(WRITE)
    async def pause_program(self, unit: BrandUnit, input: ProgramIdInput) -> ProgramType:
        """Pause an active program."""
        return await _status(unit, input, ProgramStatus.PAUSED)

    @brand_mutation(WRITE)
    async def end_program(self, unit: BrandUnit, input: ProgramIdInput) -> ProgramType:
        """End an active or paused program for good."""
        return await _status(unit, input, ProgramStatus.ENDED)


async def _status(unit: BrandUnit, input: ProgramIdInput, target: ProgramStatus) -> ProgramOut:
    program = await service.change_status(
        unit.session, unit.tenant, parse_id(input.id, "Program"), target
    )
    return ProgramOut.of(program)
