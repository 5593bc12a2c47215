"""Scenario operations: definitions and their versions (draft, activate, publish a live edit,
pause, resume, archive), explicit entries, and reading journeys and statistics. Services never
commit.

Versions: creating a scenario makes draft version 1; activating freezes it (it goes live and
takes entries). Editing the graph of an active scenario opens a new draft (a copy of the live
graph changed); publishing it makes it live, and the old version's journeys in flight either
move to it by node id (a removed node's journeys go where the author's ``nodeMap`` says) or
finish on the old one. Pause holds every journey where it is (no step runs, nothing enters);
resume runs what fell due meanwhile, once; archive stops entries and lets journeys finish.
"""

from __future__ import annotations

from collections import defaultdict
from uuid import UUID

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.core.db import utcnow
from backend.core.errors import Conflict, InvalidInput, NotFound
from backend.core.pagination import PageRequest
from backend.core.tenancy import TenantId
from backend.profiles import service as profiles_service
from backend.programs import service as programs_service
from backend.scenarios import entries, references, repository
from backend.scenarios import graph as g
from backend.scenarios.models import (
    Journey,
    JourneyState,
    JourneyStep,
    Scenario,
    ScenarioStatus,
    ScenarioVersion,
    VersionState,
)
from backend.scenarios.runtime import schedule_wake
from backend.scenarios.schemas import (
    EntryIn,
    MessageStatsOut,
    Migration,
    NodeStatsOut,
    PublishIn,
    ScenarioCreate,
    ScenarioUpdate,
    StatsOut,
)

# Outcomes that are not a pass to a next node (the journey ended here, or left the step).
ENDED_OUTCOMES = {"completed", "converted", "exited", "error", "interrupted", "migrated"}


# Definitions -----------------------------------------------------------------------------------


async def _checked_graph(session: AsyncSession, raw: dict[str, object]) -> dict[str, object]:
    """The graph as stored, its structure and references checked (422 naming the node)."""
    parsed = g.parse(raw)
    await references.check(session, parsed)
    return {"nodes": [msgspec.to_builtins(n) for n in parsed.nodes.values()]}


async def list_scenarios(
    session: AsyncSession, page: PageRequest, *, program_id: UUID | None = None
) -> tuple[list[Scenario], str | None]:
    return await repository.list_scenarios(session, page, program_id=program_id)


async def count_scenarios(session: AsyncSession, *, program_id: UUID | None = None) -> int:
    return await repository.count_scenarios(session, program_id=program_id)


async def get_scenario(session: AsyncSession, scenario_id: UUID, *, lock: bool = False) -> Scenario:
    scenario = await repository.get_scenario(session, scenario_id, lock=lock)
    if scenario is None:
        raise NotFound("scenario not found")
    return scenario


async def create_scenario(session: AsyncSession, data: ScenarioCreate) -> Scenario:
    """A scenario with its graph as draft version 1."""
    graph = await _checked_graph(session, data.graph)
    await programs_service.check_program_reference(session, data.program_id)
    scenario = Scenario(
        name=data.name,
        description=data.description,
        program_id=data.program_id,
        status=ScenarioStatus.DRAFT,
        draft_version=1,
    )
    session.add(scenario)
    await session.flush()
    session.add(ScenarioVersion(scenario_id=scenario.id, number=1, graph=graph))
    await session.flush()
    return scenario


async def update_scenario(
    session: AsyncSession, scenario_id: UUID, data: ScenarioUpdate
) -> Scenario:
    """Change the name, description or program; a graph replaces the draft's (a new draft when
    the scenario has none, the live version staying as it is)."""
    scenario = await get_scenario(session, scenario_id, lock=True)
    if data.graph is not msgspec.UNSET:
        if scenario.status is ScenarioStatus.ARCHIVED:
            raise Conflict("an archived scenario cannot change")
        graph = await _checked_graph(session, data.graph)
        if scenario.draft_version is not None:
            draft = await _version(session, scenario.id, scenario.draft_version)
            draft.graph = graph
        else:
            number = await repository.last_version_number(session, scenario.id) + 1
            session.add(ScenarioVersion(scenario_id=scenario.id, number=number, graph=graph))
            scenario.draft_version = number
    if not isinstance(data.program_id, msgspec.UnsetType):
        await programs_service.check_program_reference(session, data.program_id)
    for name in ("name", "description", "program_id"):
        value = getattr(data, name)
        if value is not msgspec.UNSET:
            setattr(scenario, name, value)
    await session.flush()
    return scenario


async def _version(session: AsyncSession, scenario_id: UUID, number: int) -> ScenarioVersion:
    version = await repository.get_version(session, scenario_id, number)
    if version is None:
        raise NotFound("version not found")
    return version


async def _frozen(
    session: AsyncSession, tenant: TenantId, settings: Settings, version: ScenarioVersion
) -> g.Graph:
    """Check a draft once more (what it names may have gone since it was saved), its first
    sends' rendering, and bind its entry: what activating or publishing does before it is
    live."""
    parsed = g.parse(version.graph)
    await references.check(session, parsed)
    await references.check_first_sends(session, tenant, settings, parsed)
    version.entry_type = await references.entry_type(session, parsed)
    return parsed


async def activate(
    session: AsyncSession, tenant: TenantId, settings: Settings, scenario_id: UUID
) -> Scenario:
    """Freeze the draft of a scenario never activated and make it live: it takes entries."""
    scenario = await get_scenario(session, scenario_id, lock=True)
    if scenario.status is not ScenarioStatus.DRAFT or scenario.draft_version is None:
        raise Conflict(
            "the scenario was activated already: publish its draft instead",
            errors=[{"field": "status"}],
        )
    version = await _version(session, scenario.id, scenario.draft_version)
    await _frozen(session, tenant, settings, version)
    now = utcnow()
    version.state = VersionState.LIVE
    version.activated_at = now
    scenario.live_version = version.number
    scenario.draft_version = None
    scenario.status = ScenarioStatus.ACTIVE
    await session.flush()
    return scenario


async def publish(
    session: AsyncSession,
    tenant: TenantId,
    settings: Settings,
    scenario_id: UUID,
    data: PublishIn,
) -> Scenario:
    """Make the draft live over the live version; its journeys move or finish (see the
    module). A removed node left out of ``nodeMap``, or mapped to a node the draft lacks, is
    a 422 naming it."""
    scenario = await get_scenario(session, scenario_id, lock=True)
    if scenario.live_version is None or scenario.status is ScenarioStatus.DRAFT:
        raise Conflict(
            "the scenario was never activated: activate it", errors=[{"field": "status"}]
        )
    if scenario.status is ScenarioStatus.ARCHIVED:
        raise Conflict("an archived scenario cannot change", errors=[{"field": "status"}])
    if scenario.draft_version is None:
        raise Conflict("the scenario has no draft to publish", errors=[{"field": "draftVersion"}])
    old = await _version(session, scenario.id, scenario.live_version)
    new = await _version(session, scenario.id, scenario.draft_version)
    old_graph = g.parse(old.graph)
    new_graph = await _frozen(session, tenant, settings, new)
    now = utcnow()
    if data.migration is Migration.MOVE:
        node_map = _checked_map(old_graph, new_graph, data.node_map)
        kinds = {node_id: new_graph.kind_of(node_id) for node_id in new_graph.nodes}
        kept = {
            node_id
            for node_id in old_graph.nodes
            if node_id in new_graph.nodes
            and old_graph.kind_of(node_id) == new_graph.kind_of(node_id)
        }
        full_map = {node_id: node_map.get(node_id, node_id) for node_id in old_graph.nodes}
        await repository.migrate_journeys(session, old.id, new.id, full_map, kinds, kept, now)
        old.state = VersionState.RETIRED
        old.retired_at = now
    else:
        if data.node_map:
            raise InvalidInput(
                "a node map goes with the move migration only", errors=[{"field": "nodeMap"}]
            )
        in_flight = await repository.in_flight_count(session, old.id)
        old.state = VersionState.FINISHING if in_flight else VersionState.RETIRED
        old.retired_at = None if in_flight else now
    new.state = VersionState.LIVE
    new.activated_at = now
    scenario.live_version = new.number
    scenario.draft_version = None
    await session.flush()
    if scenario.status is ScenarioStatus.ACTIVE:
        await schedule_wake(session, tenant, now)
    return scenario


def _checked_map(old: g.Graph, new: g.Graph, given: dict[str, str]) -> dict[str, str]:
    errors = g.GraphErrors()
    for source, target in given.items():
        if source not in old.nodes:
            errors.add(f"/nodeMap/{source}", f"the live version has no node {source!r}")
        elif source in new.nodes:
            errors.add(f"/nodeMap/{source}", f"{source!r} is kept: it maps to itself")
        elif target not in new.nodes:
            errors.add(f"/nodeMap/{source}", f"the draft has no node {target!r}")
        elif isinstance(new.nodes[target], g.EntryNode | g.GoalNode):
            errors.add(f"/nodeMap/{source}", "profiles cannot be moved to an entry or a goal")
    for node_id, node in old.nodes.items():
        if (
            node_id not in new.nodes
            and node_id not in given
            and not isinstance(node, g.EntryNode | g.GoalNode)
        ):
            errors.add(
                f"/nodeMap/{node_id}",
                f"the draft removes {node_id!r}: say where its profiles go",
            )
    errors.raise_if_any()
    return dict(given)


async def pause(session: AsyncSession, scenario_id: UUID) -> Scenario:
    """Hold every journey where it is: no step runs and no profile enters until resumed."""
    scenario = await get_scenario(session, scenario_id, lock=True)
    if scenario.status is not ScenarioStatus.ACTIVE:
        raise Conflict(f"a {scenario.status.value} scenario cannot be paused")
    scenario.status = ScenarioStatus.PAUSED
    await session.flush()
    return scenario


async def resume(session: AsyncSession, tenant: TenantId, scenario_id: UUID) -> Scenario:
    """Continue: the steps that fell due while paused run now, each once."""
    scenario = await get_scenario(session, scenario_id, lock=True)
    if scenario.status is not ScenarioStatus.PAUSED:
        raise Conflict(f"a {scenario.status.value} scenario cannot be resumed")
    scenario.status = ScenarioStatus.ACTIVE
    await session.flush()
    await schedule_wake(session, tenant, utcnow())
    return scenario


async def archive(session: AsyncSession, tenant: TenantId, scenario_id: UUID) -> Scenario:
    """No profile enters any more; journeys in flight finish (drain). For good."""
    scenario = await get_scenario(session, scenario_id, lock=True)
    if scenario.status is ScenarioStatus.ARCHIVED:
        return scenario
    was_paused = scenario.status is ScenarioStatus.PAUSED
    scenario.status = ScenarioStatus.ARCHIVED
    scenario.draft_version = None
    await session.flush()
    if was_paused:
        await schedule_wake(session, tenant, utcnow())
    return scenario


# Versions --------------------------------------------------------------------------------------


async def list_versions(
    session: AsyncSession, scenario_id: UUID, page: PageRequest
) -> tuple[list[ScenarioVersion], str | None]:
    scenario = await get_scenario(session, scenario_id)
    return await repository.list_versions(session, scenario.id, page)


async def count_versions(session: AsyncSession, scenario_id: UUID) -> int:
    return await repository.count_versions(session, scenario_id)


async def get_version(session: AsyncSession, scenario_id: UUID, number: int) -> ScenarioVersion:
    scenario = await get_scenario(session, scenario_id)
    return await _version(session, scenario.id, number)


# Entries and journeys --------------------------------------------------------------------------


async def enter(
    session: AsyncSession,
    tenant: TenantId,
    scenario_id: UUID,
    data: EntryIn,
    *,
    idempotency_key: str | None = None,
) -> tuple[Journey | None, str | None]:
    """Enter a profile into an active scenario whose entry is `api`: (its journey, None), or
    (None, why not). A key seen before answers with the journey it started (or its refusal)."""
    scenario = await get_scenario(session, scenario_id)
    if scenario.status is not ScenarioStatus.ACTIVE or scenario.live_version is None:
        raise Conflict(f"a {scenario.status.value} scenario takes no entry")
    version = await _version(session, scenario.id, scenario.live_version)
    if g.parse(version.graph).entry.trigger.kind is not g.EntryKind.API:
        raise Conflict(
            "this scenario's entry is a trigger, not an API call", errors=[{"field": "entry"}]
        )
    profile = await profiles_service.get_profile(session, data.profile_id)
    key = f"api:{data.key or idempotency_key}" if (data.key or idempotency_key) else None
    entry_key = key or f"api:{profile.id}:{utcnow().isoformat()}"
    started = await entries.admit(
        session,
        tenant,
        [entries.Candidate(scenario.id, version.id, profile.id, entry_key, dict(data.data))],
    )
    if entry_key in started:
        journey = await repository.get_journey(session, started[entry_key])
        return journey, None
    earlier = await repository.journey_of_entry_key(session, scenario.id, entry_key)
    if earlier is not None:
        return earlier, None
    return None, "the re-entry policy (or the entry segment) keeps this profile out"


async def list_journeys(
    session: AsyncSession,
    scenario_id: UUID,
    page: PageRequest,
    *,
    state: JourneyState | None = None,
    profile_id: UUID | None = None,
) -> tuple[list[Journey], str | None]:
    scenario = await get_scenario(session, scenario_id)
    return await repository.list_journeys(
        session, scenario.id, page, state=state, profile_id=profile_id
    )


async def count_journeys(
    session: AsyncSession,
    scenario_id: UUID,
    *,
    state: JourneyState | None = None,
    profile_id: UUID | None = None,
) -> int:
    return await repository.count_journeys(session, scenario_id, state=state, profile_id=profile_id)


async def get_journey(
    session: AsyncSession, scenario_id: UUID, journey_id: UUID
) -> tuple[Journey, list[JourneyStep]]:
    journey = await repository.get_journey(session, journey_id)
    if journey is None or journey.scenario_id != scenario_id:
        raise NotFound("journey not found")
    return journey, await repository.steps_of(session, journey.id)


# Statistics ------------------------------------------------------------------------------------


async def stats(session: AsyncSession, scenario_id: UUID, number: int | None = None) -> StatsOut:
    """Per node of one version (default: the live one, else the draft): entered, waiting,
    passed, exited, converted, each outcome, and for sends their messages' outcomes."""
    scenario = await get_scenario(session, scenario_id)
    number = number or scenario.live_version or scenario.draft_version
    if number is None:
        raise NotFound("the scenario has no version")
    version = await _version(session, scenario.id, number)
    graph = g.parse(version.graph)
    counts: dict[str, dict[str | None, int]] = defaultdict(dict)
    kinds: dict[str, str] = {n: graph.kind_of(n) for n in graph.nodes}
    for node_id, kind, outcome, count in await repository.step_counts(session, version.id):
        counts[node_id][outcome] = counts[node_id].get(outcome, 0) + count
        kinds.setdefault(node_id, kind)
    held = await repository.held_counts(session, version.id)
    nodes: list[NodeStatsOut] = []
    for node_id, kind in kinds.items():
        by_outcome = counts.get(node_id, {})
        entered = sum(by_outcome.values())
        waiting = by_outcome.get(None, 0)
        exited = sum(by_outcome.get(o, 0) for o in ("completed", "exited", "error"))
        converted = by_outcome.get("converted", 0)
        passed = sum(
            count
            for outcome, count in by_outcome.items()
            if outcome is not None and outcome not in ENDED_OUTCOMES
        )
        messages = None
        if kind == "send":
            messages = MessageStatsOut(
                sent=by_outcome.get("sent", 0),
                refused=by_outcome.get("refused", 0),
                failed=by_outcome.get("failed", 0),
                pending=waiting,
                deferred=held.get(node_id, 0),
            )
        nodes.append(
            NodeStatsOut(
                node_id=node_id,
                kind=kind,
                entered=entered,
                waiting=waiting,
                passed=passed,
                exited=exited,
                converted=converted,
                outcomes={str(k): v for k, v in sorted(by_outcome.items(), key=str) if k},
                messages=messages,
            )
        )
    return StatsOut(
        scenario_id=scenario.id, version=version.number, version_id=version.id, nodes=nodes
    )


async def retire_finished(session: AsyncSession) -> int:
    """Finishing versions whose last journey ended become retired; how many."""
    retired = 0
    for version, _ in await repository.running_versions(session):
        if (
            version.state is VersionState.FINISHING
            and await repository.in_flight_count(session, version.id) == 0
        ):
            version.state = VersionState.RETIRED
            version.retired_at = utcnow()
            retired += 1
    if retired:
        await session.flush()
    return retired
