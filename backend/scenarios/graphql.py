"""GraphQL of scenarios: the REST shapes (derived from `backend.scenarios.schemas`) and the same
services. Expected failures of mutations are the `OperationError` member of their result union;
an invalid graph names its first bad node (`/graph/nodes/2/next`) in the error's detail."""

from __future__ import annotations

from uuid import UUID

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.scalars import JSON

from backend.config import Settings
from backend.core.graphql_entities import entity_type, graphql_enum, input_type, struct_of
from backend.core.graphql_fields import BrandUnit, brand_mutation, brand_query
from backend.core.graphql_results import parse_id
from backend.core.relay import Connection, Node
from backend.scenarios import service
from backend.scenarios.models import JourneyState, ScenarioStatus, VersionState
from backend.scenarios.schemas import (
    EntryIn,
    EntryOut,
    JourneyDetailOut,
    JourneyOut,
    MessageStatsOut,
    Migration,
    NodeStatsOut,
    PublishIn,
    ScenarioCreate,
    ScenarioOut,
    ScenarioUpdate,
    StatsOut,
    StepOut,
    VersionOut,
)

READ, WRITE = "scenarios:read", "scenarios:write"
graphql_enum(ScenarioStatus)
graphql_enum(VersionState, "ScenarioVersionState")
graphql_enum(JourneyState)
graphql_enum(Migration, "ScenarioMigration")


async def _load_scenario(session: AsyncSession, scenario_id: UUID) -> ScenarioOut:
    return ScenarioOut.of(await service.get_scenario(session, scenario_id))


@entity_type(ScenarioOut, name="Scenario", node=(READ, _load_scenario))
class ScenarioType(Node):
    """An automated journey: a graph in versions, run by journeys."""


@entity_type(VersionOut, name="ScenarioVersion")
class ScenarioVersionType:
    graph: JSON = strawberry.field(description="The nodes, as in REST.")


@entity_type(JourneyOut, name="Journey")
class JourneyType:
    data: JSON = strawberry.field(description="The entry's data.")


@entity_type(StepOut, name="JourneyStep")
class JourneyStepType:
    pass


@entity_type(JourneyDetailOut, name="JourneyDetail")
class JourneyDetailType:
    pass


@entity_type(EntryOut, name="ScenarioEntry")
class ScenarioEntryType:
    pass


@entity_type(MessageStatsOut, name="ScenarioMessageStats")
class ScenarioMessageStatsType:
    pass


@entity_type(NodeStatsOut, name="ScenarioNodeStats")
class ScenarioNodeStatsType:
    pass


@entity_type(StatsOut, name="ScenarioStats")
class ScenarioStatsType:
    pass


@input_type(ScenarioCreate, name="CreateScenarioInput")
class CreateScenarioInput:
    pass


@input_type(ScenarioUpdate, name="UpdateScenarioInput")
class UpdateScenarioInput:
    id: strawberry.ID


@input_type(PublishIn, name="PublishScenarioInput")
class PublishScenarioInput:
    id: strawberry.ID


@input_type(EntryIn, name="EnterScenarioInput")
class EnterScenarioInput:
    id: strawberry.ID = strawberry.field(description="The scenario.")


@strawberry.input(description="Names one scenario.")
class ScenarioIdInput:
    id: strawberry.ID


def _settings(unit: BrandUnit) -> Settings:
    request = unit.context.request
    assert request is not None
    settings: Settings = request.app.state.settings
    return settings


def _id(value: strawberry.ID) -> UUID:
    return parse_id(value, "Scenario")


@strawberry.type
class ScenariosQuery:
    @brand_query(READ)
    async def scenarios(
        self,
        unit: BrandUnit,
        first: int = 50,
        after: str | None = None,
        program_id: strawberry.ID | None = None,
    ) -> Connection[ScenarioType]:
        """The brand's scenarios in creation order (of one program with `programId`)."""
        page = unit.page(first, after)
        program = parse_id(program_id, "Program") if program_id else None
        items, cursor = await service.list_scenarios(unit.session, page, program_id=program)

        async def count(session: AsyncSession) -> int:
            return await service.count_scenarios(session, program_id=program)

        return unit.connection(ScenarioOut.many(items), cursor, page, count=count)

    @brand_query(READ, missing_is_null=True)
    async def scenario(self, unit: BrandUnit, id: strawberry.ID) -> ScenarioType | None:
        """One scenario (null when the brand has none with this id)."""
        return await _load_scenario(unit.session, _id(id))

    @brand_query(READ)
    async def scenario_versions(
        self, unit: BrandUnit, id: strawberry.ID, first: int = 50, after: str | None = None
    ) -> Connection[ScenarioVersionType]:
        """A scenario's versions, oldest first."""
        page = unit.page(first, after)
        scenario_id = _id(id)
        items, cursor = await service.list_versions(unit.session, scenario_id, page)
        return unit.connection(VersionOut.many(items), cursor, page)

    @brand_query(READ)
    async def scenario_version(
        self, unit: BrandUnit, id: strawberry.ID, number: int
    ) -> ScenarioVersionType:
        """One version of a scenario and its graph."""
        version = await service.get_version(unit.session, _id(id), number)
        return VersionOut.of(version)

    @brand_query(READ)
    async def scenario_journeys(
        self,
        unit: BrandUnit,
        id: strawberry.ID,
        first: int = 50,
        after: str | None = None,
        state: JourneyState | None = None,
        profile_id: strawberry.ID | None = None,
    ) -> Connection[JourneyType]:
        """A scenario's journeys in the order they started, filtered by state or profile."""
        page = unit.page(first, after)
        scenario_id = _id(id)
        profile = parse_id(profile_id, "Profile") if profile_id else None
        items, cursor = await service.list_journeys(
            unit.session, scenario_id, page, state=state, profile_id=profile
        )

        async def count(session: AsyncSession) -> int:
            return await service.count_journeys(
                session, scenario_id, state=state, profile_id=profile
            )

        return unit.connection(JourneyOut.many(items), cursor, page, count=count)

    @brand_query(READ)
    async def scenario_journey(
        self, unit: BrandUnit, id: strawberry.ID, journey_id: strawberry.ID
    ) -> JourneyDetailType:
        """A journey of a scenario and every step it ran."""
        journey, steps = await service.get_journey(
            unit.session, _id(id), parse_id(journey_id, "Journey")
        )
        return JourneyDetailOut(journey=JourneyOut.of(journey), steps=StepOut.many(steps))

    @brand_query(READ)
    async def scenario_stats(
        self, unit: BrandUnit, id: strawberry.ID, version: int | None = None
    ) -> ScenarioStatsType:
        """Per-node statistics of a version (default: the live one)."""
        return await service.stats(unit.session, _id(id), version)


@strawberry.type
class ScenariosMutation:
    @brand_mutation(WRITE)
    async def create_scenario(self, unit: BrandUnit, input: CreateScenarioInput) -> ScenarioType:
        """Define a scenario (its graph is validated; draft version 1)."""
        data = struct_of(ScenarioCreate, input)
        return ScenarioOut.of(await service.create_scenario(unit.session, data))

    @brand_mutation(WRITE)
    async def update_scenario(self, unit: BrandUnit, input: UpdateScenarioInput) -> ScenarioType:
        """Change a scenario; a graph replaces the draft's (a new draft once active)."""
        scenario = await service.update_scenario(
            unit.session, _id(input.id), struct_of(ScenarioUpdate, input)
        )
        return ScenarioOut.of(scenario)

    @brand_mutation(WRITE)
    async def activate_scenario(self, unit: BrandUnit, input: ScenarioIdInput) -> ScenarioType:
        """Freeze the draft and make it live."""
        scenario = await service.activate(unit.session, unit.tenant, _settings(unit), _id(input.id))
        return ScenarioOut.of(scenario)

    @brand_mutation(WRITE)
    async def publish_scenario(self, unit: BrandUnit, input: PublishScenarioInput) -> ScenarioType:
        """Make the draft live; profiles in flight move to it or finish on the old version."""
        scenario = await service.publish(
            unit.session,
            unit.tenant,
            _settings(unit),
            _id(input.id),
            struct_of(PublishIn, input),
        )
        return ScenarioOut.of(scenario)

    @brand_mutation(WRITE)
    async def pause_scenario(self, unit: BrandUnit, input: ScenarioIdInput) -> ScenarioType:
        """Hold every profile where it is."""
        return ScenarioOut.of(await service.pause(unit.session, _id(input.id)))

    @brand_mutation(WRITE)
    async def resume_scenario(self, unit: BrandUnit, input: ScenarioIdInput) -> ScenarioType:
        """Continue where each profile was."""
        scenario = await service.resume(unit.session, unit.tenant, _id(input.id))
        return ScenarioOut.of(scenario)

    @brand_mutation(WRITE)
    async def archive_scenario(self, unit: BrandUnit, input: ScenarioIdInput) -> ScenarioType:
        """Stop entries; the profiles in flight finish."""
        scenario = await service.archive(unit.session, unit.tenant, _id(input.id))
        return ScenarioOut.of(scenario)

    @brand_mutation(WRITE)
    async def enter_scenario(self, unit: BrandUnit, input: EnterScenarioInput) -> ScenarioEntryType:
        """Start a journey for a profile (idempotent on `key`)."""
        journey, reason = await service.enter(
            unit.session, unit.tenant, _id(input.id), struct_of(EntryIn, input)
        )
        return EntryOut(
            admitted=journey is not None,
            journey=JourneyOut.of(journey) if journey is not None else None,
            reason=reason,
        )
