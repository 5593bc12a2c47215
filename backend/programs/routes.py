"""REST routes of programs under ``/v1/brands/{brand_id}``: the programs, their status changes,
the catalog of program templates and the coverage map. Reads need `programs:read`, writes
`programs:write`; another brand's program is not found.

The catalog is served per brand (``/v1/brands/{brand_id}/program-templates``) although its
templates are the platform's: it is read with a brand scope and role like the rest of programs,
each template says how many of the brand's programs came from it, and instantiating one is a
brand route beside it.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import delete, get, patch, post
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from backend.auth.scopes import needs
from backend.core.api import READ_ERRORS, WRITE_ERRORS, BrandController
from backend.core.dependencies import DbSession, Paging, Tenant
from backend.programs import service
from backend.programs.models import ProgramStatus
from backend.programs.schemas import (
    ProgramCoverageOut,
    ProgramCreate,
    ProgramInstantiate,
    ProgramOut,
    ProgramPage,
    ProgramTemplateList,
    ProgramTemplateOut,
    ProgramUpdate,
)
from backend.programs.vocabulary import LifecycleStage, MomentOfTruth

READ, WRITE = "programs:read", "programs:write"
StageFilter = Annotated[LifecycleStage | None, QueryParameter(description="Only this stage.")]


class ProgramController(BrandController):
    """The brand's programs: objectives at a lifecycle stage, with KPIs and moments of truth."""

    path = "/v1/brands/{brand_id:uuid}/programs"
    tags = ["programs"]

    @get("/", operation_id="listPrograms", summary="List programs", **needs(READ),
         responses=READ_ERRORS)  # fmt: skip
    async def list_programs(
        self,
        db_session: DbSession,
        page: Paging,
        stage: StageFilter = None,
        status: Annotated[
            ProgramStatus | None, QueryParameter(description="Only this status.")
        ] = None,
    ) -> ProgramPage:
        """The brand's live programs (not archived), in creation order, optionally at one
        stage or in one status."""
        items, cursor = await service.list_programs(db_session, page, stage=stage, status=status)
        return ProgramPage(ProgramOut.many(items), cursor)

    @post("/", operation_id="createProgram", summary="Create a program", **needs(WRITE),
          status_code=HTTP_201_CREATED, responses=WRITE_ERRORS)  # fmt: skip
    async def create_program(
        self, db_session: DbSession, tenant: Tenant, data: JSONBody[ProgramCreate]
    ) -> ProgramOut:
        """Create a program in `draft`. A 422 names the field at fault: an unknown stage,
        metric or moment of truth, a KPI whose target does not fit its unit, `endDate` before
        `startDate`, an `ownerId` who may not reach the brand, an unknown audience segment."""
        return ProgramOut.of(await service.create_program(db_session, tenant, data))

    @post("/from-template", operation_id="instantiateProgram",
          summary="Create a program from a template", **needs(WRITE),
          status_code=HTTP_201_CREATED, responses=WRITE_ERRORS)  # fmt: skip
    async def instantiate(
        self, db_session: DbSession, tenant: Tenant, data: JSONBody[ProgramInstantiate]
    ) -> ProgramOut:
        """Create a program from a catalog template in one call: the template's name, stage,
        objective, KPIs and moments of truth, with `overrides`. With `createAudience` a rule
        segment is defined from the template's suggested audience and becomes the program's
        `audienceSegmentId`. Nothing is stored unless all of it is."""
        return ProgramOut.of(await service.instantiate(db_session, tenant, data))

    @get("/coverage", operation_id="getProgramCoverage", summary="Read the coverage map",
         **needs(READ), responses=READ_ERRORS)  # fmt: skip
    async def coverage(self, db_session: DbSession, tenant: Tenant) -> ProgramCoverageOut:
        """For every lifecycle stage and moment of truth, the programs covering it today
        (active, within their dates), or, for a gap, the templates that would fill it."""
        return await service.coverage(db_session, tenant)

    @get("/{program_id:uuid}", operation_id="getProgram", summary="Read a program",
         **needs(READ), responses=READ_ERRORS)  # fmt: skip
    async def get_program(self, db_session: DbSession, program_id: FromPath[UUID]) -> ProgramOut:
        """One program, archived or not."""
        return ProgramOut.of(await service.get_program(db_session, program_id))

    @patch("/{program_id:uuid}", operation_id="updateProgram", summary="Change a program",
           **needs(WRITE), responses=WRITE_ERRORS)  # fmt: skip
    async def update_program(
        self,
        db_session: DbSession,
        tenant: Tenant,
        program_id: FromPath[UUID],
        data: JSONBody[ProgramUpdate],
    ) -> ProgramOut:
        """Change a program's fields (validated as on create); an archived program answers
        409."""
        return ProgramOut.of(await service.update_program(db_session, tenant, program_id, data))

    @delete("/{program_id:uuid}", operation_id="deleteProgram", summary="Delete a program",
            **needs(WRITE), status_code=HTTP_204_NO_CONTENT, responses=WRITE_ERRORS)  # fmt: skip
    async def delete_program(self, db_session: DbSession, program_id: FromPath[UUID]) -> None:
        """Delete a program. While campaigns or scenarios still name it, it is archived
        instead: it leaves lists and the coverage map, ends if it was running, and reading it
        by id shows `archivedAt`."""
        await service.delete_program(db_session, program_id)

    async def _status(
        self, db_session: DbSession, tenant: Tenant, program_id: UUID, target: ProgramStatus
    ) -> ProgramOut:
        return ProgramOut.of(await service.change_status(db_session, tenant, program_id, target))

    @post("/{program_id:uuid}/activate", operation_id="activateProgram",
          summary="Activate a program", **needs(WRITE), status_code=HTTP_200_OK,
          responses=WRITE_ERRORS)  # fmt: skip
    async def activate(
        self, db_session: DbSession, tenant: Tenant, program_id: FromPath[UUID]
    ) -> ProgramOut:
        """Make a draft or paused program active (409 `program-status-change` from another
        status, or when its end date has passed)."""
        return await self._status(db_session, tenant, program_id, ProgramStatus.ACTIVE)

    @post("/{program_id:uuid}/pause", operation_id="pauseProgram", summary="Pause a program",
          **needs(WRITE), status_code=HTTP_200_OK, responses=WRITE_ERRORS)  # fmt: skip
    async def pause(
        self, db_session: DbSession, tenant: Tenant, program_id: FromPath[UUID]
    ) -> ProgramOut:
        """Pause an active program (409 `program-status-change` from another status)."""
        return await self._status(db_session, tenant, program_id, ProgramStatus.PAUSED)

    @post("/{program_id:uuid}/end", operation_id="endProgram", summary="End a program",
          **needs(WRITE), status_code=HTTP_200_OK, responses=WRITE_ERRORS)  # fmt: skip
    async def end(
        self, db_session: DbSession, tenant: Tenant, program_id: FromPath[UUID]
    ) -> ProgramOut:
        """End an active or paused program for good (409 `program-status-change` from another
        status)."""
        return await self._status(db_session, tenant, program_id, ProgramStatus.ENDED)


class ProgramTemplateController(BrandController):
    """The catalog of ready programs (seed 004's 23), with the brand's use of each."""

    path = "/v1/brands/{brand_id:uuid}/program-templates"
    tags = ["programs"]

    @get("/", operation_id="listProgramTemplates", summary="List program templates",
         **needs(READ), responses=READ_ERRORS)  # fmt: skip
    async def list_templates(
        self,
        db_session: DbSession,
        stage: StageFilter = None,
        moment: Annotated[
            MomentOfTruth | None, QueryParameter(description="Only templates serving it.")
        ] = None,
    ) -> ProgramTemplateList:
        """Every template (at `stage`, serving `moment` when given), in catalog order, with
        how many of the brand's live programs came from it."""
        return ProgramTemplateList(
            await service.list_templates(db_session, stage=stage, moment=moment)
        )

    @get("/{template_key:str}", operation_id="getProgramTemplate",
         summary="Read a program template", **needs(READ), responses=READ_ERRORS)  # fmt: skip
    async def get_template(
        self, db_session: DbSession, template_key: FromPath[str]
    ) -> ProgramTemplateOut:
        """One template by its key (404 for an unknown key)."""
        return await service.get_template(db_session, template_key)
