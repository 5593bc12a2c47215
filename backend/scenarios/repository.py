"""The queries of scenarios. Runtime writes (journeys, steps, entries) are set-based Core
statements: a batch of journeys costs a constant number of statements, and the steps table is the
journeys' record (the audit log's unit of work is for the definitions)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, cast
from uuid import UUID

from sqlalchemy import Table, bindparam, case, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.db import insert_for
from backend.core.pagination import PageRequest, count_rows, paginate
from backend.core.tenancy import required_tenant
from backend.scenarios.models import (
    IN_FLIGHT,
    Journey,
    JourneyState,
    JourneyStep,
    Scenario,
    ScenarioEntry,
    ScenarioEntryKey,
    ScenarioStatus,
    ScenarioVersion,
    VersionState,
)

JOURNEYS = cast(Table, Journey.__table__)
STEPS = cast(Table, JourneyStep.__table__)
# Journeys of these scenarios make progress (an archived one drains).
PROGRESSING = (ScenarioStatus.ACTIVE, ScenarioStatus.ARCHIVED)
JOURNEY_FIELDS = (
    "state",
    "node_id",
    "seq",
    "due_at",
    "wait_event",
    "wait_message_id",
    "wait_outcome",
    "finished_at",
)
STEP_FIELDS = ("outcome", "finished_at", "message_id", "detail")


# Definitions -----------------------------------------------------------------------------------


async def list_scenarios(
    session: AsyncSession, page: PageRequest, *, program_id: UUID | None = None
) -> tuple[list[Scenario], str | None]:
    return await paginate(session, _scenarios(program_id), Scenario.id, page)


def _scenarios(program_id: UUID | None) -> Any:
    query = select(Scenario)
    return query if program_id is None else query.where(Scenario.program_id == program_id)


async def count_scenarios(session: AsyncSession, *, program_id: UUID | None = None) -> int:
    return await count_rows(session, _scenarios(program_id))


async def get_scenario(
    session: AsyncSession, scenario_id: UUID, *, lock: bool = False
) -> Scenario | None:
    query = select(Scenario).where(Scenario.id == scenario_id)
    if lock:
        query = query.with_for_update()
    return await session.scalar(query)


async def get_version(
    session: AsyncSession, scenario_id: UUID, number: int
) -> ScenarioVersion | None:
    return await session.scalar(
        select(ScenarioVersion).where(
            ScenarioVersion.scenario_id == scenario_id, ScenarioVersion.number == number
        )
    )


async def versions_by_ids(
    session: AsyncSession, version_ids: Sequence[UUID]
) -> list[ScenarioVersion]:
    if not version_ids:
        return []
    query = select(ScenarioVersion).where(ScenarioVersion.id.in_(list(set(version_ids))))
    return list((await session.scalars(query)).all())


async def list_versions(
    session: AsyncSession, scenario_id: UUID, page: PageRequest
) -> tuple[list[ScenarioVersion], str | None]:
    query = select(ScenarioVersion).where(ScenarioVersion.scenario_id == scenario_id)
    return await paginate(session, query, ScenarioVersion.id, page)


async def count_versions(session: AsyncSession, scenario_id: UUID) -> int:
    query = select(ScenarioVersion).where(ScenarioVersion.scenario_id == scenario_id)
    return await count_rows(session, query)


async def last_version_number(session: AsyncSession, scenario_id: UUID) -> int:
    query = select(func.max(ScenarioVersion.number)).where(
        ScenarioVersion.scenario_id == scenario_id
    )
    return int(await session.scalar(query) or 0)


async def running_versions(session: AsyncSession) -> list[tuple[ScenarioVersion, ScenarioStatus]]:
    """Versions that take entries or still run journeys (live, finishing), with their
    scenario's status."""
    query = (
        select(ScenarioVersion, Scenario.status)
        .join(Scenario, Scenario.id == ScenarioVersion.scenario_id)
        .where(ScenarioVersion.state.in_([VersionState.LIVE, VersionState.FINISHING]))
        .order_by(ScenarioVersion.id)
    )
    return [(row[0], row[1]) for row in (await session.execute(query)).all()]


async def admitting(session: AsyncSession, version_ids: Sequence[UUID]) -> set[UUID]:
    """Of these versions, those taking entries now (live, their scenario active): read in the
    admitting transaction, never from a cache."""
    if not version_ids:
        return set()
    query = (
        select(ScenarioVersion.id)
        .join(Scenario, Scenario.id == ScenarioVersion.scenario_id)
        .where(
            ScenarioVersion.id.in_(list(set(version_ids))),
            ScenarioVersion.state == VersionState.LIVE,
            Scenario.status == ScenarioStatus.ACTIVE,
        )
    )
    return set((await session.scalars(query)).all())


# Entries ---------------------------------------------------------------------------------------


async def claim_entry_keys(
    session: AsyncSession, scenario_id: UUID, keys: Sequence[str], now: dt.datetime
) -> set[str]:
    """Record the entry keys not handled yet by the scenario; those (one statement)."""
    if not keys:
        return set()
    tenant = required_tenant(session)
    rows = [
        {"tenant_id": tenant, "scenario_id": scenario_id, "entry_key": key, "created_at": now}
        for key in dict.fromkeys(keys)
    ]
    # An executemany (one compiled statement, sent in batches), not a VALUES list compiled anew
    # for every batch size.
    table = cast(Table, ScenarioEntryKey.__table__)
    statement = insert_for(session, table).on_conflict_do_nothing().returning(table.c.entry_key)
    return set((await session.execute(statement, rows)).scalars().all())


async def admit_entries(
    session: AsyncSession,
    scenario_id: UUID,
    candidates: Sequence[tuple[UUID, UUID]],
    now: dt.datetime,
    *,
    policy: str,
    days: int | None,
) -> dict[UUID, UUID]:
    """The re-entry policy as one conditional upsert per (scenario, profile): ``candidates``
    are (profile id, new journey id), one per profile. Returns the admitted profiles' new
    journey ids. ``never``: a profile enters once; ``after_days``: again when none is in
    flight and ``days`` passed since the last entry; ``always``: at every occurrence."""
    if not candidates:
        return {}
    tenant = required_tenant(session)
    table = cast(Table, ScenarioEntry.__table__)
    rows = [
        {
            "tenant_id": tenant,
            "scenario_id": scenario_id,
            "profile_id": profile_id,
            "last_entered_at": now,
            "entries": 1,
            "journey_id": journey_id,
            "created_at": now,
            "updated_at": now,
        }
        for profile_id, journey_id in candidates
    ]
    statement = insert_for(session, table)
    if policy == "never":
        statement = statement.on_conflict_do_nothing()
    else:
        excluded = statement.excluded
        allowed = None
        if policy == "after_days":
            assert days is not None
            allowed = (table.c.journey_id.is_(None)) & (
                table.c.last_entered_at <= now - dt.timedelta(days=days)
            )
        statement = statement.on_conflict_do_update(
            index_elements=["tenant_id", "scenario_id", "profile_id"],
            set_={
                "last_entered_at": excluded.last_entered_at,
                "entries": table.c.entries + 1,
                "journey_id": excluded.journey_id,
                "updated_at": excluded.updated_at,
            },
            where=allowed,
        )
    statement = statement.returning(table.c.profile_id, table.c.journey_id)
    return {row[0]: row[1] for row in (await session.execute(statement, rows)).all()}


async def release_entries(session: AsyncSession, journey_ids: Sequence[UUID]) -> None:
    """These journeys ended: their profiles have none in flight (unless a newer one)."""
    if journey_ids:
        await session.execute(
            update(ScenarioEntry)
            .where(ScenarioEntry.journey_id.in_(list(journey_ids)))
            .values(journey_id=None)
            .execution_options(synchronize_session=False)
        )


async def journey_of_entry_key(
    session: AsyncSession, scenario_id: UUID, entry_key: str
) -> Journey | None:
    return await session.scalar(
        select(Journey).where(Journey.scenario_id == scenario_id, Journey.entry_key == entry_key)
    )


# Journeys --------------------------------------------------------------------------------------


async def insert_journeys(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(JOURNEYS), list(rows))


async def claim_journeys(
    session: AsyncSession,
    now: dt.datetime,
    *,
    journey_ids: Sequence[UUID] | None = None,
    limit: int,
) -> list[Journey]:
    """Lock up to ``limit`` journeys with a step to run now (ready, or waiting and due) whose
    scenario makes progress; locked ones (another worker's) are skipped. Detached: the caller
    writes them back set-based."""
    query = (
        select(Journey)
        .join(Scenario, Scenario.id == Journey.scenario_id)
        .where(
            Journey.state.in_(IN_FLIGHT),
            Journey.due_at <= now,
            Scenario.status.in_(PROGRESSING),
        )
        .order_by(Journey.due_at, Journey.id)
        .limit(limit)
        .with_for_update(of=Journey, skip_locked=True)
    )
    if journey_ids is not None:
        query = query.where(Journey.id.in_(list(journey_ids)))
    journeys = list((await session.scalars(query)).all())
    for journey in journeys:
        session.expunge(journey)
    return journeys


async def write_journeys(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Store the batch's journeys: an executemany by primary key."""
    if not rows:
        return
    statement = (
        update(JOURNEYS)
        .where(
            JOURNEYS.c.tenant_id == bindparam("b_tenant_id"),
            JOURNEYS.c.id == bindparam("b_id"),
        )
        .values({name: bindparam(name) for name in (*JOURNEY_FIELDS, "version_id", "updated_at")})
    )
    await session.execute(statement, list(rows))


async def insert_steps(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(STEPS), list(rows))


async def close_steps(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Give open steps their outcome: an executemany by primary key."""
    if not rows:
        return
    statement = (
        update(STEPS)
        .where(
            STEPS.c.tenant_id == bindparam("b_tenant_id"),
            STEPS.c.journey_id == bindparam("b_journey_id"),
            STEPS.c.seq == bindparam("b_seq"),
        )
        .values({name: bindparam(name) for name in STEP_FIELDS})
    )
    await session.execute(statement, list(rows))


async def release_message_waits(
    session: AsyncSession, rows: Sequence[dict[str, Any]], now: dt.datetime
) -> None:
    """Messages' outcomes end the waits of the journeys still waiting for them: rows of
    ``journey_id``, ``message_id``, ``outcome``; one executemany (a journey that moved on, or
    waits for another message, is left alone)."""
    if not rows:
        return
    tenant = required_tenant(session)
    statement = (
        update(JOURNEYS)
        .where(
            JOURNEYS.c.tenant_id == tenant,
            JOURNEYS.c.id == bindparam("b_journey_id"),
            JOURNEYS.c.state == JourneyState.WAITING.value,
            JOURNEYS.c.wait_message_id == bindparam("b_message_id"),
        )
        .values(
            state=JourneyState.READY.value,
            wait_outcome=bindparam("b_outcome"),
            due_at=now,
            updated_at=now,
        )
    )
    await session.execute(
        statement,
        [
            {
                "b_journey_id": r["journey_id"],
                "b_message_id": r["message_id"],
                "b_outcome": r["outcome"],
            }
            for r in rows
        ],
    )


async def release_event_waits(
    session: AsyncSession, rows: Sequence[dict[str, Any]], now: dt.datetime
) -> list[UUID]:
    """Awaited events happened: rows of ``journey_id``, ``event``, ``node``; the journeys still
    waiting there are released (their ids)."""
    changed: list[UUID] = []
    for row in rows:
        result = await session.execute(
            update(Journey)
            .where(
                Journey.id == row["journey_id"],
                Journey.state == JourneyState.WAITING,
                Journey.wait_event == row["event"],
                Journey.node_id == row["node"],
            )
            .values(state=JourneyState.READY, wait_outcome="happened", due_at=now, updated_at=now)
            .returning(Journey.id)
            .execution_options(synchronize_session=False)
        )
        changed.extend(result.scalars().all())
    return changed


async def flag_held_steps(session: AsyncSession, message_ids: Sequence[UUID]) -> None:
    """A deferred message holds its step: recorded for the statistics."""
    if message_ids:
        await session.execute(
            update(JourneyStep)
            .where(JourneyStep.message_id.in_(list(message_ids)), JourneyStep.outcome.is_(None))
            .values(deferred=True)
            .execution_options(synchronize_session=False)
        )


async def in_flight_of_profiles(
    session: AsyncSession, profile_ids: Sequence[UUID], version_ids: Sequence[UUID]
) -> list[Journey]:
    """The journeys in flight of these profiles on these versions (detached)."""
    if not profile_ids or not version_ids:
        return []
    query = select(Journey).where(
        Journey.profile_id.in_(list(set(profile_ids))),
        Journey.version_id.in_(list(set(version_ids))),
        Journey.state.in_(IN_FLIGHT),
    )
    journeys = list((await session.scalars(query)).all())
    for journey in journeys:
        session.expunge(journey)
    return journeys


async def convert(
    session: AsyncSession, journey_id: UUID, now: dt.datetime
) -> tuple[int, str] | None:
    """Move a journey in flight to converted, as one statement (a worker holding it makes this
    wait, then it sees the journey as the worker left it); (its new seq, the node it was at), or
    None when it is no longer in flight."""
    row = (
        await session.execute(
            update(Journey)
            .where(Journey.id == journey_id, Journey.state.in_(IN_FLIGHT))
            .values(
                state=JourneyState.CONVERTED,
                seq=Journey.seq + 1,
                finished_at=now,
                due_at=None,
                updated_at=now,
            )
            .returning(Journey.seq, Journey.node_id)
            .execution_options(synchronize_session=False)
        )
    ).first()
    return (int(row[0]), str(row[1])) if row is not None else None


async def set_goal_node(session: AsyncSession, journey_id: UUID, node_id: str) -> None:
    await session.execute(
        update(Journey)
        .where(Journey.id == journey_id)
        .values(node_id=node_id)
        .execution_options(synchronize_session=False)
    )


async def interrupt_step(
    session: AsyncSession, journey_id: UUID, seq: int, outcome: str, now: dt.datetime
) -> None:
    await session.execute(
        update(JourneyStep)
        .where(
            JourneyStep.journey_id == journey_id,
            JourneyStep.seq == seq,
            JourneyStep.outcome.is_(None),
        )
        .values(outcome=outcome, finished_at=now)
        .execution_options(synchronize_session=False)
    )


async def list_journeys(
    session: AsyncSession,
    scenario_id: UUID,
    page: PageRequest,
    *,
    state: JourneyState | None = None,
    profile_id: UUID | None = None,
) -> tuple[list[Journey], str | None]:
    return await paginate(session, _journeys(scenario_id, state, profile_id), Journey.id, page)


def _journeys(scenario_id: UUID, state: JourneyState | None, profile_id: UUID | None) -> Any:
    query = select(Journey).where(Journey.scenario_id == scenario_id)
    if state is not None:
        query = query.where(Journey.state == state)
    if profile_id is not None:
        query = query.where(Journey.profile_id == profile_id)
    return query


async def count_journeys(
    session: AsyncSession,
    scenario_id: UUID,
    *,
    state: JourneyState | None = None,
    profile_id: UUID | None = None,
) -> int:
    return await count_rows(session, _journeys(scenario_id, state, profile_id))


async def get_journey(session: AsyncSession, journey_id: UUID) -> Journey | None:
    return await session.scalar(select(Journey).where(Journey.id == journey_id))


async def steps_of(session: AsyncSession, journey_id: UUID) -> list[JourneyStep]:
    query = select(JourneyStep).where(JourneyStep.journey_id == journey_id)
    return list((await session.scalars(query.order_by(JourneyStep.seq))).all())


async def in_flight_count(session: AsyncSession, version_id: UUID) -> int:
    query = select(func.count()).where(
        Journey.version_id == version_id, Journey.state.in_(IN_FLIGHT)
    )
    return int(await session.scalar(query) or 0)


async def due_soonest(session: AsyncSession, scenario_id: UUID) -> dt.datetime | None:
    query = select(func.min(Journey.due_at)).where(
        Journey.scenario_id == scenario_id, Journey.state.in_(IN_FLIGHT)
    )
    return await session.scalar(query)


# Live edits ------------------------------------------------------------------------------------


async def migrate_journeys(
    session: AsyncSession,
    old_version_id: UUID,
    new_version_id: UUID,
    node_map: dict[str, str],
    kinds: dict[str, str],
    kept_waiting: set[str],
    now: dt.datetime,
) -> int:
    """Move the old version's journeys in flight to the new one, set-based: their open step is
    closed ``migrated`` and a step opens on the new version at the node ``node_map`` gives (the
    same id when kept). A journey parked at a node kept with its kind (``kept_waiting``) keeps
    its wait; any other starts its new node afresh. How many moved."""
    in_flight = (Journey.version_id == old_version_id) & Journey.state.in_(IN_FLIGHT)
    tenant = required_tenant(session)
    mapped = case(node_map, value=JOURNEYS.c.node_id, else_=JOURNEYS.c.node_id)
    kind_of = case(
        {source: kinds[target] for source, target in node_map.items()}, value=JOURNEYS.c.node_id
    )
    await session.execute(
        update(JourneyStep)
        .where(
            JourneyStep.version_id == old_version_id,
            JourneyStep.outcome.is_(None),
            JourneyStep.journey_id.in_(select(Journey.id).where(in_flight)),
        )
        .values(outcome="migrated", finished_at=now)
        .execution_options(synchronize_session=False)
    )
    opened = select(
        JOURNEYS.c.tenant_id,
        JOURNEYS.c.id,
        JOURNEYS.c.seq + 1,
        literal(new_version_id),
        mapped,
        kind_of,
        literal(False),
        literal(now, STEPS.c.started_at.type),
    ).where(
        JOURNEYS.c.tenant_id == tenant,
        JOURNEYS.c.version_id == old_version_id,
        JOURNEYS.c.state.in_([s.value for s in IN_FLIGHT]),
    )
    await session.execute(
        insert(STEPS).from_select(
            [
                "tenant_id",
                "journey_id",
                "seq",
                "version_id",
                "node_id",
                "kind",
                "deferred",
                "started_at",
            ],
            opened,
        )
    )
    keeps = JOURNEYS.c.node_id.in_(sorted(kept_waiting))
    result = await session.execute(
        update(Journey)
        .where(in_flight)
        .values(
            version_id=new_version_id,
            seq=Journey.seq + 1,
            node_id=mapped,
            state=case((keeps, Journey.state), else_=JourneyState.READY.value),
            due_at=case((keeps, Journey.due_at), else_=now),
            wait_event=case((keeps, Journey.wait_event), else_=None),
            wait_message_id=case((keeps, Journey.wait_message_id), else_=None),
            wait_outcome=case((keeps, Journey.wait_outcome), else_="arrived"),
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# Statistics ------------------------------------------------------------------------------------


async def step_counts(
    session: AsyncSession, version_id: UUID
) -> list[tuple[str, str, str | None, int]]:
    """(node, kind, outcome, count) of a version's steps, in one GROUP BY."""
    query = (
        select(JourneyStep.node_id, JourneyStep.kind, JourneyStep.outcome, func.count())
        .where(JourneyStep.version_id == version_id)
        .group_by(JourneyStep.node_id, JourneyStep.kind, JourneyStep.outcome)
    )
    return [(r[0], r[1], r[2], int(r[3])) for r in (await session.execute(query)).all()]


async def held_counts(session: AsyncSession, version_id: UUID) -> dict[str, int]:
    """Per send node, how many of its messages were deferred at some point."""
    query = (
        select(JourneyStep.node_id, func.count())
        .where(
            JourneyStep.version_id == version_id,
            JourneyStep.kind == "send",
            JourneyStep.deferred.is_(True),
        )
        .group_by(JourneyStep.node_id)
    )
    return {r[0]: int(r[1]) for r in (await session.execute(query)).all()}


# Profiles --------------------------------------------------------------------------------------


async def repoint_profile(session: AsyncSession, merged_id: UUID, survivor_id: UUID) -> None:
    """A merge: the merged profile's journeys follow the survivor; its entry memory goes where
    the survivor has one already, and follows it otherwise."""
    await session.execute(
        update(Journey)
        .where(Journey.profile_id == merged_id)
        .values(profile_id=survivor_id)
        .execution_options(synchronize_session=False)
    )
    survivors = select(ScenarioEntry.scenario_id).where(ScenarioEntry.profile_id == survivor_id)
    from sqlalchemy import delete

    await session.execute(
        delete(ScenarioEntry)
        .where(ScenarioEntry.profile_id == merged_id, ScenarioEntry.scenario_id.in_(survivors))
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(ScenarioEntry)
        .where(ScenarioEntry.profile_id == merged_id)
        .values(profile_id=survivor_id)
        .execution_options(synchronize_session=False)
    )


async def fail_journey(
    session: AsyncSession, journey: Journey, reason: str, now: dt.datetime
) -> None:
    """A journey whose step fails again and again: failed for good, its open step says why."""
    await session.execute(
        update(Journey)
        .where(Journey.id == journey.id)
        .values(state=JourneyState.FAILED, finished_at=now, due_at=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if journey.seq == 0:  # it failed on its way from the entry: the error is its first step
        await insert_steps(
            session,
            [
                {
                    "tenant_id": journey.tenant_id,
                    "journey_id": journey.id,
                    "seq": 1,
                    "version_id": journey.version_id,
                    "node_id": journey.node_id,
                    "kind": "entry",
                    "outcome": "error",
                    "message_id": None,
                    "detail": {"error": reason[:500]},
                    "deferred": False,
                    "started_at": now,
                    "finished_at": now,
                }
            ],
        )
        await session.execute(
            update(Journey)
            .where(Journey.id == journey.id)
            .values(seq=1)
            .execution_options(synchronize_session=False)
        )
    else:
        await session.execute(
            update(JourneyStep)
            .where(
                JourneyStep.journey_id == journey.id,
                JourneyStep.seq == journey.seq,
                JourneyStep.outcome.is_(None),
            )
            .values(outcome="error", finished_at=now, detail={"error": reason[:500]})
            .execution_options(synchronize_session=False)
        )
    await release_entries(session, [journey.id])
