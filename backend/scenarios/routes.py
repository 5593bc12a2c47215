"""REST routes for scenarios under ``/v1/brands/{brand_id}``: the brand guard answers 404 for a
brand out of reach (and a scenario of another brand is not found either); reads need
`scenarios:read`, writes `scenarios:write`."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Request, get, patch, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from backend.auth.scopes import needs
from backend.core.api import READ_ERRORS, WRITE_ERRORS, BrandController
from backend.core.dependencies import DbSession, Paging, Tenant
from backend.core.idempotency import HANDLED_BY_ROUTE, KEY_DESCRIPTION
from backend.scenarios import service
from backend.scenarios.models import JourneyState
from backend.scenarios.schemas import (
    EntryIn,
    EntryOut,
    JourneyDetailOut,
    JourneyOut,
    JourneyPage,
    PublishIn,
    ScenarioCreate,
    ScenarioOut,
    ScenarioPage,
    ScenarioUpdate,
    StatsOut,
    StepOut,
    VersionOut,
    VersionPage,
)

KEY_DOC = (
    "Names the entry (as the body's `key` does): a retried call answers the journey the first "
    "one started, and starts none."
)


class ScenarioController(BrandController):
    """The brand's scenarios: versions of a graph, the journeys running them, their statistics."""

    path = "/v1/brands/{brand_id:uuid}/scenarios"
    tags = ["scenarios"]

    @get(
        "/",
        operation_id="listScenarios",
        summary="List scenarios",
        **needs("scenarios:read"),
        responses=READ_ERRORS,
    )
    async def list_scenarios(
        self,
        db_session: DbSession,
        page: Paging,
        program_id: Annotated[UUID | None, QueryParameter(name="programId")] = None,
    ) -> ScenarioPage:
        """The brand's scenarios in creation order (of one program with `programId`)."""
        items, cursor = await service.list_scenarios(db_session, page, program_id=program_id)
        return ScenarioPage(ScenarioOut.many(items), cursor)

    @post(
        "/",
        operation_id="createScenario",
        summary="Define a scenario",
        **needs("scenarios:write"),
        status_code=HTTP_201_CREATED,
        responses=WRITE_ERRORS,
    )
    async def create_scenario(
        self, db_session: DbSession, data: JSONBody[ScenarioCreate]
    ) -> ScenarioOut:
        """A scenario whose graph is draft version 1. The graph is validated (one entry, every
        node reachable, every path ending at an exit, no loop without a wait, what it names
        existing): a 422 names each bad node with its JSON pointer (`/graph/nodes/2/next`)."""
        return ScenarioOut.of(await service.create_scenario(db_session, data))

    @get(
        "/{scenario_id:uuid}",
        operation_id="getScenario",
        summary="Read a scenario",
        **needs("scenarios:read"),
        responses=READ_ERRORS,
    )
    async def get_scenario(self, db_session: DbSession, scenario_id: FromPath[UUID]) -> ScenarioOut:
        """One scenario: its status, its live and draft version numbers."""
        return ScenarioOut.of(await service.get_scenario(db_session, scenario_id))

    @patch(
        "/{scenario_id:uuid}",
        operation_id="updateScenario",
        summary="Change a scenario",
        **needs("scenarios:write"),
        responses=WRITE_ERRORS,
    )
    async def update_scenario(
        self, db_session: DbSession, scenario_id: FromPath[UUID], data: JSONBody[ScenarioUpdate]
    ) -> ScenarioOut:
        """Change the name, description or program; a `graph` replaces the draft's (editing an
        active scenario opens a new draft version: the live one runs on, frozen)."""
        return ScenarioOut.of(await service.update_scenario(db_session, scenario_id, data))

    @post(
        "/{scenario_id:uuid}/activate",
        operation_id="activateScenario",
        summary="Activate a scenario",
        **needs("scenarios:write"),
        status_code=HTTP_200_OK,
        responses=WRITE_ERRORS,
    )
    async def activate(
        self,
        db_session: DbSession,
        tenant: Tenant,
        state: State,
        scenario_id: FromPath[UUID],
    ) -> ScenarioOut:
        """Freeze the draft and make it live: profiles enter from now on. Checked once more:
        what it names must still exist, and its first sends must render (for the brand's first
        profile) — a 422 names the node otherwise; 409 once activated (publish a draft then)."""
        return ScenarioOut.of(
            await service.activate(db_session, tenant, state.settings, scenario_id)
        )

    @post(
        "/{scenario_id:uuid}/publish",
        operation_id="publishScenario",
        summary="Publish a scenario's draft",
        **needs("scenarios:write"),
        status_code=HTTP_200_OK,
        responses=WRITE_ERRORS,
    )
    async def publish(
        self,
        db_session: DbSession,
        tenant: Tenant,
        state: State,
        scenario_id: FromPath[UUID],
        data: JSONBody[PublishIn],
    ) -> ScenarioOut:
        """Make the draft the live version. `migration: move` moves the profiles in flight to
        it by node id (each node the draft removed needs its place in `nodeMap`: a 422 names a
        missing one); `finish` lets them finish on the old version."""
        return ScenarioOut.of(
            await service.publish(db_session, tenant, state.settings, scenario_id, data)
        )

    @post(
        "/{scenario_id:uuid}/pause",
        operation_id="pauseScenario",
        summary="Pause a scenario",
        **needs("scenarios:write"),
        status_code=HTTP_200_OK,
        responses=WRITE_ERRORS,
    )
    async def pause(self, db_session: DbSession, scenario_id: FromPath[UUID]) -> ScenarioOut:
        """Hold every profile where it is: no step runs, nobody enters, until resumed."""
        return ScenarioOut.of(await service.pause(db_session, scenario_id))

    @post(
        "/{scenario_id:uuid}/resume",
        operation_id="resumeScenario",
        summary="Resume a scenario",
        **needs("scenarios:write"),
        status_code=HTTP_200_OK,
        responses=WRITE_ERRORS,
    )
    async def resume(
        self, db_session: DbSession, tenant: Tenant, scenario_id: FromPath[UUID]
    ) -> ScenarioOut:
        """Continue where each profile was: steps that fell due while paused run now, once."""
        return ScenarioOut.of(await service.resume(db_session, tenant, scenario_id))

    @post(
        "/{scenario_id:uuid}/archive",
        operation_id="archiveScenario",
        summary="Archive a scenario",
        **needs("scenarios:write"),
        status_code=HTTP_200_OK,
        responses=WRITE_ERRORS,
    )
    async def archive(
        self, db_session: DbSession, tenant: Tenant, scenario_id: FromPath[UUID]
    ) -> ScenarioOut:
        """Nobody enters any more; the profiles in flight finish their journeys (drain)."""
        return ScenarioOut.of(await service.archive(db_session, tenant, scenario_id))

    @get(
        "/{scenario_id:uuid}/versions",
        operation_id="listScenarioVersions",
        summary="List a scenario's versions",
        **needs("scenarios:read"),
        responses=READ_ERRORS,
    )
    async def list_versions(
        self, db_session: DbSession, scenario_id: FromPath[UUID], page: Paging
    ) -> VersionPage:
        """Every version, oldest first: draft, live, finishing (its profiles finish on it) or
        retired."""
        items, cursor = await service.list_versions(db_session, scenario_id, page)
        return VersionPage(VersionOut.many(items), cursor)

    @get(
        "/{scenario_id:uuid}/versions/{number:int}",
        operation_id="getScenarioVersion",
        summary="Read a scenario version",
        **needs("scenarios:read"),
        responses=READ_ERRORS,
    )
    async def get_version(
        self, db_session: DbSession, scenario_id: FromPath[UUID], number: FromPath[int]
    ) -> VersionOut:
        """One version and its graph."""
        return VersionOut.of(await service.get_version(db_session, scenario_id, number))

    @post(
        "/{scenario_id:uuid}/entries",
        operation_id="enterScenario",
        summary="Enter a profile into a scenario",
        **needs("scenarios:write", opt={HANDLED_BY_ROUTE: True, KEY_DESCRIPTION: KEY_DOC}),
        status_code=HTTP_200_OK,
        responses=WRITE_ERRORS,
    )
    async def enter(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        tenant: Tenant,
        scenario_id: FromPath[UUID],
        data: JSONBody[EntryIn],
    ) -> EntryOut:
        """Start a journey for a profile (a scenario whose entry is an API call), under its
        re-entry policy: `admitted` false with the `reason` when the policy keeps the profile
        out. Idempotent on the body's `key` (else the `Idempotency-Key` header): a retried call
        answers the journey the first one started."""
        journey, reason = await service.enter(
            db_session,
            tenant,
            scenario_id,
            data,
            idempotency_key=request.headers.get("idempotency-key"),
        )
        return EntryOut(
            admitted=journey is not None,
            journey=JourneyOut.of(journey) if journey is not None else None,
            reason=reason,
        )

    @get(
        "/{scenario_id:uuid}/journeys",
        operation_id="listScenarioJourneys",
        summary="List a scenario's journeys",
        **needs("scenarios:read"),
        responses=READ_ERRORS,
    )
    async def list_journeys(
        self,
        db_session: DbSession,
        scenario_id: FromPath[UUID],
        page: Paging,
        journey_state: Annotated[JourneyState | None, QueryParameter(name="state")] = None,
        profile_id: Annotated[UUID | None, QueryParameter(name="profileId")] = None,
    ) -> JourneyPage:
        """The scenario's journeys in the order they started, filtered by state or profile."""
        items, cursor = await service.list_journeys(
            db_session, scenario_id, page, state=journey_state, profile_id=profile_id
        )
        return JourneyPage(JourneyOut.many(items), cursor)

    @get(
        "/{scenario_id:uuid}/journeys/{journey_id:uuid}",
        operation_id="getScenarioJourney",
        summary="Read a journey and its steps",
        **needs("scenarios:read"),
        responses=READ_ERRORS,
    )
    async def get_journey(
        self, db_session: DbSession, scenario_id: FromPath[UUID], journey_id: FromPath[UUID]
    ) -> JourneyDetailOut:
        """A journey and every step it ran, with outcomes (the last one open while it waits)."""
        journey, steps = await service.get_journey(db_session, scenario_id, journey_id)
        return JourneyDetailOut(journey=JourneyOut.of(journey), steps=StepOut.many(steps))

    @get(
        "/{scenario_id:uuid}/stats",
        operation_id="getScenarioStats",
        summary="Per-node statistics of a version",
        **needs("scenarios:read"),
        responses=READ_ERRORS,
    )
    async def stats(
        self,
        db_session: DbSession,
        scenario_id: FromPath[UUID],
        version: Annotated[int | None, QueryParameter()] = None,
    ) -> StatsOut:
        """Per node of a version (default: the live one): profiles entered, waiting, passed,
        exited, converted, each outcome, and for sends their messages' outcomes."""
        return await service.stats(db_session, scenario_id, version)
