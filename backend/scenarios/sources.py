"""What moves journeys from other domains: accepted events (an awaited event happened, a goal
was reached), messages' outcomes (a send step's message was sent or dropped), profile merges;
and the scenario engine as a consumer of trigger occurrences. Connected by :func:`connect`.

Receivers run in the sender's transaction: a journey released here is advanced by the
``scenarios.advance`` task after that transaction commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.db import utcnow
from backend.core.jobs import enqueue
from backend.core.signals import Signals
from backend.core.tenancy import TenantId
from backend.events import service as events_service
from backend.messaging import notify
from backend.messaging.models import MessageStatus, SourceKind
from backend.profiles import service as profiles_service
from backend.programs import service as programs_service
from backend.programs.models import Program
from backend.scenarios import repository
from backend.scenarios.effects import FINAL
from backend.scenarios.entries import ADVANCE_TASK, CONSUMER, Interest, running
from backend.scenarios.runtime import journey_of_step_key, matches
from backend.triggers.consumers import register_consumer


async def events_accepted(
    session: AsyncSession, tenant: TenantId, events: Sequence[events_service.AcceptedEvent]
) -> None:
    """Goals reached and awaited events that happened, for the events' profiles' journeys."""
    interests = (await running(session)).interests
    relevant = [e for e in events if e.name in interests]
    if not relevant:
        return
    versions = {i.version_id for e in relevant for i in interests[e.name]}
    journeys = await repository.in_flight_of_profiles(
        session, [e.profile_id for e in relevant], list(versions)
    )
    if not journeys:
        return
    now = utcnow()
    by_profile: dict[UUID, list[events_service.AcceptedEvent]] = {}
    for event in relevant:
        by_profile.setdefault(event.profile_id, []).append(event)
    released: list[dict[str, Any]] = []
    for journey in journeys:
        for event in by_profile.get(journey.profile_id, ()):
            if event.occurred_at < journey.entered_at:
                continue  # before the journey began: not its goal, not its awaited event
            goal = _interest(interests[event.name], journey.version_id, event.properties, True)
            if goal is not None:
                await _convert(session, journey.id, goal.node_id, now)
                break
            awaited = _interest(interests[event.name], journey.version_id, event.properties, False)
            if awaited is not None and awaited.node_id == journey.node_id:
                released.append(
                    {"journey_id": journey.id, "event": event.name, "node": journey.node_id}
                )
                break
    await _advance(session, tenant, await repository.release_event_waits(session, released, now))


def _interest(
    interests: Sequence[Interest], version_id: UUID, properties: dict[str, object], goal: bool
) -> Interest | None:
    for interest in interests:
        if (
            interest.version_id == version_id
            and interest.goal is goal
            and matches(interest.property_equals, dict(properties))
        ):
            return interest
    return None


async def _convert(
    session: AsyncSession, journey_id: UUID, goal_node: str, now: dt.datetime
) -> None:
    """The goal happened: the journey leaves as converted; its open step is interrupted and a
    step at the goal node records the conversion."""
    moved = await repository.convert(session, journey_id, now)
    if moved is None:
        return
    seq, at_node = moved
    await repository.interrupt_step(session, journey_id, seq - 1, "interrupted", now)
    await repository.set_goal_node(session, journey_id, goal_node)
    journey = await repository.get_journey(session, journey_id)
    assert journey is not None
    await repository.insert_steps(
        session,
        [
            {
                "tenant_id": journey.tenant_id,
                "journey_id": journey_id,
                "seq": seq,
                "version_id": journey.version_id,
                "node_id": goal_node,
                "kind": "goal",
                "outcome": "converted",
                "message_id": None,
                "detail": {"from": at_node},
                "deferred": False,
                "started_at": now,
                "finished_at": now,
            }
        ],
    )
    await repository.release_entries(session, [journey_id])


async def messages_told(
    session: AsyncSession, tenant: TenantId, told: Sequence[notify.Told]
) -> None:
    """A send step's message was sent or dropped: its journey moves on. A deferral holds it (and
    is counted); a refusal with a fallback waits for the fallback's outcome."""
    now = utcnow()
    released: list[dict[str, Any]] = []
    held: list[UUID] = []
    for item in told:
        message = item.message
        if message.source_kind is not SourceKind.SCENARIO:
            continue
        root = message.fallback_of or message.id
        if item.status is MessageStatus.DEFERRED:
            held.append(root)
            continue
        outcome = FINAL.get(item.status)
        if outcome is None:
            continue
        if (
            item.status is MessageStatus.REFUSED
            and message.fallback is not None
            and message.fallback_of is None
        ):
            continue  # its fallback message was recorded: its outcome ends the step
        journey_id = journey_of_step_key(message.source_key)
        if journey_id is None:
            continue
        released.append({"journey_id": journey_id, "message_id": root, "outcome": outcome})
    await repository.flag_held_steps(session, held)
    await repository.release_message_waits(session, released, now)
    # The advance claims only the journeys released (the others are not ready): safe for all.
    await _advance(session, tenant, list(dict.fromkeys(r["journey_id"] for r in released)))


async def _advance(session: AsyncSession, tenant: TenantId, journey_ids: Sequence[UUID]) -> None:
    if journey_ids:
        await enqueue(
            session, ADVANCE_TASK, tenant=tenant, journey_ids=[str(i) for i in journey_ids]
        )


async def follow_merge(
    session: AsyncSession, tenant: TenantId, survivor_id: UUID, merged_id: UUID
) -> None:
    """The merged profile's journeys and entry memory follow the survivor."""
    await repository.repoint_profile(session, merged_id, survivor_id)


async def count_program_use(
    session: AsyncSession, program: Program, usage: programs_service.ProgramUsage
) -> None:
    """A program being deleted that scenarios name is archived instead (they keep it)."""
    usage.add("scenarios", await repository.count_scenarios(session, program_id=program.id))


def connect(signals: Signals) -> None:
    """Connect the journeys' receivers, and consume trigger occurrences."""
    signals.connect(events_service.EVENTS_ACCEPTED, events_accepted)
    signals.connect(notify.MESSAGES_TOLD, messages_told)
    signals.connect(profiles_service.PROFILE_MERGED, follow_merge)
    signals.connect(programs_service.PROGRAM_DELETING, count_program_use)
    register_consumer(CONSUMER)
