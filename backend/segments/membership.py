"""Materialised membership: full evaluations (on demand, on a schedule), incremental ones for a
few profiles after a write, static uploads, and the publication of the transitions they record.

Each evaluation runs the segment's one compiled statement into a staging table and does the set
maths in SQL (:func:`backend.segments.repository.apply_stage`). The segment row is locked for the
evaluation, so two evaluations of one segment never record the same change twice. Transitions are
then published after commit by the ``segments.publish`` task, in chunks: trigger occurrences of
type ``segment.entered`` / ``segment.exited`` (dedupe key: the transition id) and webhook events.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import structlog
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.db import insert_for, utcnow
from backend.core.due_work import DueTask
from backend.core.errors import InvalidInput, NotFound
from backend.core.ids import new_id
from backend.core.jobs import enqueue, task_payload
from backend.core.read_cache import cached, watch_config_tables
from backend.core.signals import Signals
from backend.core.tenancy import TenantId, session_tenant
from backend.profiles import lookup
from backend.profiles import service as profile_service
from backend.profiles.fields import normalise_email, normalise_phone
from backend.segments import compiler, repository, rules, service
from backend.segments.models import (
    EvaluationCause,
    Segment,
    SegmentKind,
    SegmentSize,
    SegmentTransition,
    TransitionKind,
)
from backend.segments.repository import Outcome
from backend.segments.schemas import MembersUpload
from backend.triggers import service as triggers_service
from backend.triggers.repository import NewOccurrence  # the type raise_many takes
from backend.webhooks import service as webhooks_service
from backend.webhooks.models import WebhookEventType

log = structlog.get_logger("levier.segments")

PUBLISH_TASK = "segments.publish"
REFRESH_PROFILE_TASK = "segments.refresh_profile"
PUBLISH_CHUNK = 500
# Writes to one profile within this many seconds share one incremental evaluation, which runs
# a grace period after the slot ends (so the writes of the slot have committed by then).
REFRESH_SLOT_SECONDS = 2
REFRESH_GRACE = dt.timedelta(seconds=1)


# Full evaluations ------------------------------------------------------------------------------


async def evaluate(
    session: AsyncSession,
    tenant: TenantId,
    segment_id: UUID,
    *,
    evaluation_id: UUID | None = None,
    cause: EvaluationCause = EvaluationCause.MANUAL,
    now: dt.datetime | None = None,
) -> Outcome | None:
    """Evaluate a rule segment over every profile: record each entry and exit once, bring the
    members in line, write a sizes row. Safe to run twice with one ``evaluation_id`` (None the
    second time). A static segment only gets its size recorded."""
    now = now or utcnow()
    evaluation_id = evaluation_id or new_id()
    segment = await repository.get_segment(session, segment_id, lock=True)
    if segment is None:
        raise NotFound("segment not found")
    if await repository.size_exists(session, evaluation_id):
        return None
    if segment.kind is SegmentKind.STATIC:
        size = await repository.member_count(session, tenant, segment.id)
        return await _record(session, segment, evaluation_id, now, cause, size, 0, 0)
    node = await service.parsed(session, segment.definition, segment.id)
    ctx = await service.context(session, tenant, now)
    await repository.prepare_stage(session)
    size = await repository.stage(session, compiler.members_query(node, ctx))
    entered, exited = await repository.apply_stage(session, tenant, segment.id, evaluation_id, now)
    outcome = await _record(session, segment, evaluation_id, now, cause, size, entered, exited)
    if entered or exited:
        await _after_changes(session, tenant, segment, evaluation_id)
    return outcome


async def _record(
    session: AsyncSession,
    segment: Segment,
    evaluation_id: UUID,
    now: dt.datetime,
    cause: EvaluationCause,
    size: int,
    entered: int,
    exited: int,
) -> Outcome:
    await repository.set_member_count(session, segment, size, now)
    session.add(
        SegmentSize(
            id=evaluation_id,
            segment_id=segment.id,
            measured_at=now,
            size=size,
            entered=entered,
            exited=exited,
            cause=cause,
        )
    )
    await session.flush()
    await session.refresh(segment)
    return Outcome(evaluation_id, size, entered, exited)


async def _after_changes(
    session: AsyncSession, tenant: TenantId, segment: Segment, evaluation_id: UUID
) -> None:
    """Publish the evaluation's transitions, and re-evaluate the segments referencing this one."""
    await enqueue(session, PUBLISH_TASK, tenant=tenant, evaluation_id=str(evaluation_id))
    for other in await repository.all_segments(session):
        if other.id != segment.id and segment.id in rules.referenced_segments(other.definition):
            await enqueue(
                session,
                service.EVALUATE_TASK,
                tenant=tenant,
                segment_id=str(other.id),
                evaluation_id=str(new_id()),
                cause=EvaluationCause.MANUAL.value,
            )


# Schedule --------------------------------------------------------------------------------------


async def refresh_due(session: AsyncSession, tenant: TenantId, now: dt.datetime) -> int:
    """Queue an evaluation of every rule segment whose refresh fell due (once, however long
    ago: the next one is an interval after now). How many were queued."""
    due = await repository.claim_due_segments(session, now)
    for segment in due:
        minutes = segment.refresh_every_minutes
        segment.next_refresh_at = None if minutes is None else now + dt.timedelta(minutes=minutes)
        await enqueue(
            session,
            service.EVALUATE_TASK,
            tenant=tenant,
            segment_id=str(segment.id),
            evaluation_id=str(new_id()),
            cause=EvaluationCause.SCHEDULE.value,
        )
    await session.flush()
    return len(due)


# Incremental evaluations -----------------------------------------------------------------------


def _in_dependency_order(segments: list[Segment]) -> list[Segment]:
    """Referenced segments first, so a profile's new membership of one is seen by the others."""
    by_id = {s.id: s for s in segments}
    ordered: list[Segment] = []
    seen: set[UUID] = set()

    def visit(segment: Segment) -> None:
        if segment.id in seen:
            return
        seen.add(segment.id)
        for ref in sorted(rules.referenced_segments(segment.definition)):
            if ref in by_id:
                visit(by_id[ref])
        ordered.append(segment)

    for segment in segments:
        visit(segment)
    return ordered


async def refresh_profiles(
    session: AsyncSession,
    tenant: TenantId,
    profile_ids: Sequence[UUID],
    *,
    now: dt.datetime | None = None,
) -> list[Outcome]:
    """Re-evaluate these profiles' membership of every rule segment of the brand: the segments'
    statements restricted to these profiles, the same set maths. The outcomes with changes."""
    now = now or utcnow()
    only = sorted(set(profile_ids))
    if not only:
        return []
    outcomes: list[Outcome] = []
    segments = await repository.rule_segments(session, lock=True)
    ctx = await service.context(session, tenant, now, only=only)
    for segment in _in_dependency_order(segments):
        try:
            node = await service.parsed(session, segment.definition, segment.id)
        except InvalidInput:  # its schema changed under it: the full evaluation reports it
            log.warning("segment_definition_invalid", segment_id=str(segment.id))
            continue
        evaluation_id = new_id()
        await repository.prepare_stage(session)
        await repository.stage(session, compiler.members_query(node, ctx), whole=False)
        entered, exited = await repository.apply_stage(
            session, tenant, segment.id, evaluation_id, now, only=only
        )
        if not (entered or exited):
            continue
        await session.execute(
            update(Segment)
            .where(Segment.id == segment.id)
            .values(member_count=Segment.member_count + entered - exited)
            .execution_options(synchronize_session=False)
        )
        await enqueue(session, PUBLISH_TASK, tenant=tenant, evaluation_id=str(evaluation_id))
        outcomes.append(Outcome(evaluation_id, -1, entered, exited))
    return outcomes


watch_config_tables("segments")


async def _has_rule_segments(session: AsyncSession) -> bool:
    """Read on every profile write and ingested event: kept by the configuration cache."""
    return await cached(
        session,
        (session_tenant(session), "has_rule_segments"),
        lambda: repository.has_rule_segments(session),
    )


async def profiles_changed(
    session: AsyncSession,
    tenant: TenantId,
    profile_ids: Sequence[UUID],
    *,
    now: dt.datetime | None = None,
) -> None:
    """A write may have changed these profiles' segments: schedule their incremental
    evaluation a few seconds ahead, once per profile and time slot (due work, in the write's
    transaction), so ingestion never waits for it."""
    unique = sorted(set(profile_ids))
    if not unique or not await _has_rule_segments(session):
        return
    now = now or utcnow()
    slot_start = math.ceil(now.timestamp() / REFRESH_SLOT_SECONDS) * REFRESH_SLOT_SECONDS
    slot = dt.datetime.fromtimestamp(slot_start, dt.UTC)
    rows = [
        {
            "id": new_id(),
            "task_name": REFRESH_PROFILE_TASK,
            "kwargs": task_payload(REFRESH_PROFILE_TASK, tenant, {"profile_id": str(p)}),
            "due_at": slot + REFRESH_GRACE,
            "dedupe_key": f"segments.refresh:{tenant}:{p}:{slot_start}",
            "created_at": now,
        }
        for p in unique
    ]
    for start in range(0, len(rows), 500):
        statement = (
            insert_for(session, DueTask)
            .values(rows[start : start + 500])
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
        )
        await session.execute(statement)


async def refresh_all_later(
    session: AsyncSession,
    tenant: TenantId,
    *,
    cause: EvaluationCause = EvaluationCause.IMPORT,
    reading: str | None = None,
) -> None:
    """Queue a full evaluation of every rule segment (after a bulk change such as an import),
    or only of those whose rules hold a ``reading`` condition (e.g. ``"rfm"``)."""
    for segment in await repository.rule_segments(session):
        if reading is not None and not _holds_condition(segment.definition, reading):
            continue
        await enqueue(
            session,
            service.EVALUATE_TASK,
            tenant=tenant,
            segment_id=str(segment.id),
            evaluation_id=str(new_id()),
            cause=cause.value,
        )


def _holds_condition(node: object, kind: str) -> bool:
    if isinstance(node, dict):
        return kind in node or any(_holds_condition(v, kind) for v in node.values())
    if isinstance(node, list):
        return any(_holds_condition(item, kind) for item in node)
    return False


# Static uploads --------------------------------------------------------------------------------


@dataclass(frozen=True)
class UploadResult:
    outcome: Outcome
    unknown_profile_ids: list[UUID]
    unknown_keys: list[str]


async def _resolve(
    session: AsyncSession, tenant: TenantId, data: MembersUpload
) -> tuple[list[UUID], list[UUID], list[str]]:
    existing = await lookup.existing_ids(session, list(dict.fromkeys(data.profile_ids)))
    unknown_ids = [i for i in dict.fromkeys(data.profile_ids) if i not in existing]
    keys: dict[tuple[str, str], str] = {}
    unknown_keys: list[str] = []
    region = None
    for email in data.emails:
        value = normalise_email(email)
        if value is None:
            unknown_keys.append(f"email:{email}")
        else:
            keys[("email", value)] = f"email:{email}"
    for phone in data.phones:
        value = normalise_phone(phone, region)
        if value is None:
            unknown_keys.append(f"phone:{phone}")
        else:
            keys[("phone", value)] = f"phone:{phone}"
    for external in data.external_ids:
        keys[(f"external:{external.source}", external.id)] = (
            f"external:{external.source}:{external.id}"
        )
    owners = await lookup.owners_of_keys(session, list(keys))
    unknown_keys += [label for key, label in keys.items() if key not in owners]
    return [*existing, *owners.values()], unknown_ids, unknown_keys


async def upload_members(
    session: AsyncSession,
    tenant: TenantId,
    segment_id: UUID,
    data: MembersUpload,
    *,
    replace: bool,
    now: dt.datetime | None = None,
) -> UploadResult:
    """Add profiles to a static segment (or, with ``replace``, make them its only members),
    by ids or identity keys; entries and exits are recorded as for rule segments."""
    now = now or utcnow()
    segment = await repository.get_segment(session, segment_id, lock=True)
    if segment is None:
        raise NotFound("segment not found")
    if segment.kind is not SegmentKind.STATIC:
        raise InvalidInput(
            "only a static segment takes uploaded members", errors=[{"field": "kind"}]
        )
    found, unknown_ids, unknown_keys = await _resolve(session, tenant, data)
    evaluation_id = new_id()
    await repository.prepare_stage(session)
    await repository.stage_ids(session, found)
    entered, exited = await repository.apply_stage(
        session, tenant, segment.id, evaluation_id, now, exits=replace
    )
    size = await repository.member_count(session, tenant, segment.id)
    outcome = await _record(
        session, segment, evaluation_id, now, EvaluationCause.UPLOAD, size, entered, exited
    )
    if entered or exited:
        await _after_changes(session, tenant, segment, evaluation_id)
    return UploadResult(outcome, unknown_ids, unknown_keys)


async def remove_members(
    session: AsyncSession,
    tenant: TenantId,
    segment_id: UUID,
    profile_ids: Sequence[UUID],
    *,
    now: dt.datetime | None = None,
) -> int:
    """Take profiles out of a static segment (their exits recorded as for rule segments); how
    many were members. A profile that was not a member changes nothing."""
    now = now or utcnow()
    segment = await repository.get_segment(session, segment_id, lock=True)
    if segment is None:
        raise NotFound("segment not found")
    if segment.kind is not SegmentKind.STATIC:
        raise InvalidInput("only a static segment has members removed", errors=[{"field": "kind"}])
    only = sorted(set(profile_ids))
    if not only:
        return 0
    evaluation_id = new_id()
    await repository.prepare_stage(session)  # nothing staged: within `only`, everyone exits
    entered, exited = await repository.apply_stage(
        session, tenant, segment.id, evaluation_id, now, only=only
    )
    size = await repository.member_count(session, tenant, segment.id)
    await _record(
        session, segment, evaluation_id, now, EvaluationCause.UPLOAD, size, entered, exited
    )
    if exited:
        await _after_changes(session, tenant, segment, evaluation_id)
    return exited


# Publishing ------------------------------------------------------------------------------------


def _payload(segment: Segment | None, transition: SegmentTransition) -> dict[str, object]:
    return {
        "transitionId": str(transition.id),
        "segmentId": str(transition.segment_id),
        "segmentKey": segment.key if segment is not None else None,
        "profileId": str(transition.profile_id),
        "kind": transition.kind.value,
        "occurredAt": transition.occurred_at.isoformat(),
    }


TYPES = {
    TransitionKind.ENTERED: WebhookEventType.SEGMENT_ENTERED,
    TransitionKind.EXITED: WebhookEventType.SEGMENT_EXITED,
}


async def publish(
    session: AsyncSession, tenant: TenantId, evaluation_id: UUID, after: UUID | None = None
) -> UUID | None:
    """Publish one chunk of an evaluation's transitions (after ``after``): trigger occurrences
    (once per transition) and webhook events. The cursor of the next chunk, None at the end."""
    chunk = await repository.transitions_after(session, evaluation_id, after, PUBLISH_CHUNK)
    if not chunk:
        return None
    segment = await repository.get_segment(session, chunk[0].segment_id)
    occurrences = [
        NewOccurrence(
            profile_id=t.profile_id,
            type=TYPES[t.kind].value,
            dedupe_key=str(t.id),
            occurred_at=t.occurred_at,
            payload=_payload(segment, t),
        )
        for t in chunk
    ]
    await triggers_service.raise_many(session, tenant, occurrences)
    for kind, event_type in TYPES.items():
        if not await webhooks_service.subscribed(session, event_type):
            continue
        for transition in chunk:
            if transition.kind is kind:
                await webhooks_service.publish(
                    session,
                    tenant,
                    event_type,
                    _payload(segment, transition),
                    event_id=transition.id,  # published once, however often the task runs
                )
    return chunk[-1].id if len(chunk) == PUBLISH_CHUNK else None


# Profiles merging and leaving ------------------------------------------------------------------


async def follow_merge(
    session: AsyncSession, tenant: TenantId, survivor_id: UUID, merged_id: UUID
) -> None:
    """The merged profile's memberships and transitions move to the survivor, whose segments
    are then evaluated again."""
    for segment_id in await repository.repoint_profile_rows(session, merged_id, survivor_id):
        await _decrement(session, segment_id)
    await profiles_changed(session, tenant, [survivor_id])


async def forget_profile(session: AsyncSession, tenant: TenantId, profile_id: UUID) -> None:
    """An erased profile's memberships and transitions go with it; counts follow."""
    for segment_id in await repository.delete_profile_rows(session, profile_id):
        await _decrement(session, segment_id)


async def _decrement(session: AsyncSession, segment_id: UUID) -> None:
    await session.execute(
        update(Segment)
        .where(Segment.id == segment_id)
        .values(member_count=Segment.member_count - 1)
        .execution_options(synchronize_session=False)
    )


def connect(signals: Signals) -> None:
    """Connect the memberships' receivers: memberships and transitions follow their profile."""
    signals.connect(profile_service.PROFILE_MERGED, follow_merge)
    signals.connect(profile_service.PROFILE_DELETED, forget_profile)
