"""Entering scenarios: trigger occurrences (consumed from the triggers domain) and explicit API
calls become journeys, set-based, under each scenario's re-entry policy.

An entry is keyed (the occurrence's id, or the API call's key): the keys a scenario handled are
recorded first (``INSERT … ON CONFLICT DO NOTHING RETURNING``), so an occurrence delivered twice —
even at once, by two workers — starts at most one journey. The policy is then one conditional
upsert of the (scenario, profile) entry row; the journeys it admits are inserted at the entry
node and advanced by the ``scenarios.advance`` task after commit.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.db import utcnow
from backend.core.ids import new_id
from backend.core.jobs import enqueue
from backend.core.read_cache import cached, watch_config_tables
from backend.core.tenancy import TenantId, session_tenant
from backend.scenarios import graph as g
from backend.scenarios import repository
from backend.scenarios.models import JourneyState, ScenarioStatus, VersionState
from backend.scenarios.runtime import ARRIVED
from backend.segments import service as segments_service
from backend.triggers.models import TriggerOccurrence

ADVANCE_TASK = "scenarios.advance"
ADVANCE_CHUNK = 500
SEGMENT_TYPES = {
    g.EntryKind.SEGMENT_ENTERED: "segment.entered",
    g.EntryKind.SEGMENT_EXITED: "segment.exited",
}

watch_config_tables("scenario_versions", "scenarios")


@dataclass(frozen=True)
class LiveEntry:
    """What the hot path needs of a live version's entry (kept by the configuration cache)."""

    scenario_id: UUID
    version_id: UUID
    entry_type: str
    segment_id: UUID | None  # segment entries: the segment whose transitions count


@dataclass(frozen=True)
class Interest:
    """An event some running version waits for or converts on."""

    version_id: UUID
    node_id: str
    goal: bool
    property_equals: dict[str, Any]


@dataclass(frozen=True)
class Running:
    entries: tuple[LiveEntry, ...]
    interests: dict[str, tuple[Interest, ...]]  # by event name


async def running(session: AsyncSession) -> Running:
    """The brand's live entries and the events its running versions listen to: read on every
    occurrence and accepted event, so kept by the configuration cache."""

    async def load() -> Running:
        entries: list[LiveEntry] = []
        interests: dict[str, list[Interest]] = defaultdict(list)
        for version, status in await repository.running_versions(session):
            graph = g.parse(version.graph)
            entry = graph.entry
            if (
                version.state is VersionState.LIVE
                and status is ScenarioStatus.ACTIVE
                and version.entry_type is not None
            ):
                segment = entry.trigger.segment_id if entry.trigger.kind in SEGMENT_TYPES else None
                entries.append(
                    LiveEntry(version.scenario_id, version.id, version.entry_type, segment)
                )
            for node in graph.of_kind(g.WaitEventNode):
                interests[node.event_name].append(
                    Interest(version.id, node.id, False, dict(node.property_equals))
                )
            for goal in graph.goals:
                interests[goal.event_name].append(
                    Interest(version.id, goal.id, True, dict(goal.property_equals))
                )
        return Running(tuple(entries), {k: tuple(v) for k, v in interests.items()})

    return await cached(session, (session_tenant(session), "scenarios_running"), load)


@dataclass(frozen=True)
class Candidate:
    """An occurrence or a call asking a profile into a version."""

    scenario_id: UUID
    version_id: UUID
    profile_id: UUID
    entry_key: str
    data: dict[str, Any]


async def admit(
    session: AsyncSession,
    tenant: TenantId,
    candidates: Sequence[Candidate],
    *,
    now: dt.datetime | None = None,
) -> dict[str, UUID]:
    """Start the journeys these candidates may start (policy, entry segment, keys seen); the
    new journeys by entry key, their advance queued after commit."""
    now = now or utcnow()
    live = await repository.admitting(session, [c.version_id for c in candidates])
    candidates = [c for c in candidates if c.version_id in live]
    if not candidates:
        return {}
    versions = {v.id: v for v in await repository.versions_by_ids(session, list(live))}
    graphs = {vid: g.parse(v.graph) for vid, v in versions.items()}
    candidates = await _in_entry_segments(session, candidates, graphs)
    started: dict[str, UUID] = {}
    rows: list[dict[str, Any]] = []
    by_scenario: dict[UUID, list[Candidate]] = defaultdict(list)
    for candidate in candidates:
        by_scenario[candidate.scenario_id].append(candidate)
    for scenario_id, group in by_scenario.items():
        fresh = await repository.claim_entry_keys(
            session, scenario_id, [c.entry_key for c in group], now
        )
        waiting = list({c.entry_key: c for c in reversed(group) if c.entry_key in fresh}.values())
        waiting.reverse()  # one candidate per key (the first), in the order given
        while waiting:
            # One candidate per profile per statement (an upsert touches a row once).
            first: dict[UUID, Candidate] = {}
            rest: list[Candidate] = []
            for candidate in waiting:
                if candidate.profile_id in first:
                    rest.append(candidate)
                else:
                    first[candidate.profile_id] = candidate
            entry = graphs[group[0].version_id].entry
            ids = {profile_id: new_id() for profile_id in first}
            admitted = await repository.admit_entries(
                session,
                scenario_id,
                list(ids.items()),
                now,
                policy=entry.reentry.policy.value,
                days=entry.reentry.days,
            )
            for profile_id, journey_id in admitted.items():
                if ids.get(profile_id) != journey_id:
                    continue
                candidate = first[profile_id]
                rows.append(_journey_row(tenant, candidate, journey_id, entry.id, now))
                started[candidate.entry_key] = journey_id
            waiting = rest
    await repository.insert_journeys(session, rows)
    journey_ids = [str(row["id"]) for row in rows]
    for start in range(0, len(journey_ids), ADVANCE_CHUNK):
        chunk = journey_ids[start : start + ADVANCE_CHUNK]
        await enqueue(session, ADVANCE_TASK, tenant=tenant, journey_ids=chunk)
    return started


def _journey_row(
    tenant: TenantId, candidate: Candidate, journey_id: UUID, entry_node: str, now: dt.datetime
) -> dict[str, Any]:
    return {
        "tenant_id": tenant,
        "id": journey_id,
        "scenario_id": candidate.scenario_id,
        "version_id": candidate.version_id,
        "profile_id": candidate.profile_id,
        "state": JourneyState.READY.value,
        "node_id": entry_node,
        "seq": 0,
        "entered_at": now,
        "due_at": now,
        "wait_event": None,
        "wait_message_id": None,
        "wait_outcome": ARRIVED,
        "entry_key": candidate.entry_key,
        "data": candidate.data,
        "finished_at": None,
        "created_at": now,
        "updated_at": now,
    }


async def _in_entry_segments(
    session: AsyncSession, candidates: list[Candidate], graphs: dict[UUID, g.Graph]
) -> list[Candidate]:
    """Only the candidates in their version's entry segment, when it has one (one query)."""
    gated = [c for c in candidates if graphs[c.version_id].entry.entry_segment_id is not None]
    if not gated:
        return candidates
    memberships = await segments_service.segments_of_many(
        session, list({c.profile_id for c in gated})
    )
    member_of = {pid: {s.id for s in segments} for pid, segments in memberships.items()}
    return [
        c
        for c in candidates
        if (segment := graphs[c.version_id].entry.entry_segment_id) is None
        or segment in member_of.get(c.profile_id, set())
    ]


class OccurrenceConsumer:
    """The scenario engine as a consumer of trigger occurrences (registered at wiring)."""

    async def on_occurrences(
        self, session: AsyncSession, tenant: TenantId, occurrences: Sequence[TriggerOccurrence]
    ) -> None:
        live = (await running(session)).entries
        if not live:
            return
        by_type: dict[str, list[LiveEntry]] = defaultdict(list)
        for entry in live:
            by_type[entry.entry_type].append(entry)
        candidates: list[Candidate] = []
        for occurrence in occurrences:
            for entry in by_type.get(occurrence.type, ()):
                payload = occurrence.payload or {}
                if entry.segment_id is not None and payload.get("segmentId") != str(
                    entry.segment_id
                ):
                    continue
                candidates.append(
                    Candidate(
                        entry.scenario_id,
                        entry.version_id,
                        occurrence.profile_id,
                        f"occurrence:{occurrence.id}",
                        dict(payload),
                    )
                )
        if candidates:
            await admit(session, tenant, candidates)


CONSUMER = OccurrenceConsumer()
