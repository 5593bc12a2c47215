"""RFM operations: settings, runs (on demand and scheduled), scoring, reading scores, and the
``rfm.segment_changed`` events. Services never commit.

A run is created ``queued`` with the settings of that moment (window, method, thresholds) and its
scoring enqueued through the outbox (``rfm.run``). Scoring is one transaction: the scores, the
run's cut points and counts, and the enqueued emission of the changes (``rfm.emit_changes``),
which ingests one ``rfm.segment_changed`` event per changed profile in chunks, each with the
deterministic event id ``rfm:{run_id}:{profile_id}`` (a rerun stores nothing twice).
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import structlog
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.db import insert_for, utcnow
from backend.core.errors import InvalidInput, NotFound
from backend.core.ids import new_id
from backend.core.jobs import enqueue
from backend.core.pagination import PageRequest
from backend.core.signals import Signal, Signals, signals
from backend.core.tenancy import TenantId
from backend.events import service as events_service
from backend.events.schemas import EventIn
from backend.profiles import service as profile_service
from backend.profiles.fields import FieldErrors
from backend.rfm import grid, repository
from backend.rfm.models import (
    DEFAULT_ENGAGEMENT_EVENTS,
    DEFAULT_WINDOW_DAYS,
    RfmKind,
    RfmMethod,
    RfmRun,
    RfmRunStatus,
    RfmSchedule,
    RfmScore,
    RfmSettings,
)
from backend.rfm.repository import current_scores_query
from backend.rfm.schemas import RfmRunIn, RfmSettingsIn, RfmThresholds
from backend.tenancy import service as tenancy_service

__all__ = ["current_scores_query"]

log = structlog.get_logger("levier.rfm")

RUN_TASK = "rfm.run"
EMIT_TASK = "rfm.emit_changes"
SEGMENT_CHANGED = "rfm.segment_changed"
EVENT_SOURCE = "rfm"
EMIT_CHUNK = 1000
MIN_WINDOW_DAYS, MAX_WINDOW_DAYS = 1, 3650
MAX_ENGAGEMENT_EVENTS = 50
MAX_FUTURE_SKEW = dt.timedelta(minutes=5)

# (session, tenant): a run succeeded, so the brand's current scores changed (segments whose rules
# read them evaluate again). Run in the run's transaction.
RFM_RUN_FINISHED: Signal[[AsyncSession, TenantId]] = Signal("rfm_run_finished")


EVENT_NAME_LENGTH = 100


@dataclass(frozen=True)
class SettingsView:
    purchase_window_days: int
    engagement_window_days: int
    engagement_events: list[str]
    schedule: RfmSchedule
    thresholds: dict[str, dict[str, list[float]]] | None

    def window_days(self, kind: RfmKind) -> int:
        if kind is RfmKind.PURCHASE:
            return self.purchase_window_days
        return self.engagement_window_days

    def thresholds_of(self, kind: RfmKind) -> dict[str, list[float]] | None:
        return (self.thresholds or {}).get(kind.value)


DEFAULT_SETTINGS = SettingsView(
    DEFAULT_WINDOW_DAYS,
    DEFAULT_WINDOW_DAYS,
    list(DEFAULT_ENGAGEMENT_EVENTS),
    RfmSchedule.MONTHLY,
    None,
)


# Settings --------------------------------------------------------------------------------------


async def get_settings(session: AsyncSession) -> SettingsView:
    row = await repository.get_settings(session)
    if row is None:
        return DEFAULT_SETTINGS
    return SettingsView(
        row.purchase_window_days,
        row.engagement_window_days,
        list(row.engagement_events),
        row.schedule,
        row.thresholds,
    )


def _checked_thresholds(given: RfmThresholds | None, errors: FieldErrors) -> dict[str, Any] | None:
    if given is None:
        return None
    stored: dict[str, Any] = {}
    for kind in RfmKind:
        axes = getattr(given, kind.value)
        if axes is None:
            continue
        stored[kind.value] = {}
        for axis in grid.AXES:
            cuts: list[float] = getattr(axes, axis)
            name = f"thresholds.{kind.value}.{axis}"
            if len(cuts) != 4 or not all(math.isfinite(c) for c in cuts):
                errors.add(name, "expected 4 numbers")
            elif any(b <= a for a, b in itertools.pairwise(cuts)):
                errors.add(name, "expected 4 strictly ascending numbers")
            elif cuts[0] < 0:
                errors.add(name, "expected numbers of 0 or more")
            stored[kind.value][axis] = [float(c) for c in cuts]
    return stored or None


async def update_settings(session: AsyncSession, data: RfmSettingsIn) -> SettingsView:
    """Replace the brand's RFM settings; every violation names its field (nothing stored)."""
    errors = FieldErrors()
    for name, value in (
        ("purchaseWindowDays", data.purchase_window_days),
        ("engagementWindowDays", data.engagement_window_days),
    ):
        if not MIN_WINDOW_DAYS <= value <= MAX_WINDOW_DAYS:
            errors.add(name, f"expected {MIN_WINDOW_DAYS} to {MAX_WINDOW_DAYS} days")
    events = [name.strip() for name in data.engagement_events]
    if not 0 < len(events) <= MAX_ENGAGEMENT_EVENTS:
        errors.add("engagementEvents", f"expected 1 to {MAX_ENGAGEMENT_EVENTS} event names")
    for index, name in enumerate(events):
        if not 0 < len(name) <= EVENT_NAME_LENGTH:
            errors.add(f"engagementEvents[{index}]", "expected an event name")
    thresholds = _checked_thresholds(data.thresholds, errors)
    errors.raise_if_any()
    row = await repository.get_settings(session)
    if row is None:
        row = RfmSettings()
        session.add(row)
    row.purchase_window_days = data.purchase_window_days
    row.engagement_window_days = data.engagement_window_days
    row.engagement_events = list(dict.fromkeys(events))
    row.schedule = data.schedule
    row.thresholds = thresholds
    await session.flush()
    return await get_settings(session)


# Runs ------------------------------------------------------------------------------------------


def _new_run(
    settings: SettingsView,
    kind: RfmKind,
    as_of: dt.datetime,
    scheduled_for: dt.datetime | None = None,
) -> dict[str, Any]:
    thresholds = settings.thresholds_of(kind)
    return {
        "id": new_id(),
        "kind": kind,
        "as_of": as_of,
        "window_days": settings.window_days(kind),
        "status": RfmRunStatus.QUEUED,
        "method": RfmMethod.QUINTILES if thresholds is None else RfmMethod.THRESHOLDS,
        "cut_points": thresholds,
        "scored_count": 0,
        "changed_count": 0,
        "scheduled_for": scheduled_for,
    }


async def start_run(
    session: AsyncSession, tenant: TenantId, data: RfmRunIn, *, now: dt.datetime | None = None
) -> RfmRun:
    """Queue a run of ``data.kind`` at ``data.asOf`` (default now) with the brand's current
    settings; scored by the ``rfm.run`` task once this transaction commits."""
    now = now or utcnow()
    as_of = data.as_of or now
    if as_of.tzinfo is None:
        raise InvalidInput(
            "asOf needs its UTC offset",
            errors=[{"field": "asOf", "message": "expected a date and time with its UTC offset"}],
        )
    if as_of > now + MAX_FUTURE_SKEW:
        raise InvalidInput(
            "asOf is in the future",
            errors=[{"field": "asOf", "message": "expected a time not in the future"}],
        )
    run = RfmRun(**_new_run(await get_settings(session), data.kind, as_of.astimezone(dt.UTC)))
    session.add(run)
    await session.flush()
    await enqueue(session, RUN_TASK, tenant=tenant, run_id=str(run.id))
    return run


async def get_run(session: AsyncSession, run_id: UUID) -> RfmRun:
    run = await repository.get_run(session, run_id)
    if run is None:
        raise NotFound("RFM run not found")
    return run


async def list_runs(
    session: AsyncSession, page: PageRequest, kind: RfmKind | None = None
) -> tuple[list[RfmRun], str | None]:
    """The brand's runs in the order they were asked for."""
    return await repository.list_runs(session, page, kind)


async def count_runs(session: AsyncSession, kind: RfmKind | None = None) -> int:
    return await repository.count_runs(session, kind)


async def execute_run(
    session: AsyncSession, tenant: TenantId, run_id: UUID, *, now: dt.datetime | None = None
) -> RfmRun | None:
    """Score a queued run (what the ``rfm.run`` task does); a run already finished is left as
    it is, so a second delivery does nothing. A statement that would fail again (a data or
    constraint error) marks the run failed; transient errors raise, and the task is retried."""
    started = now or utcnow()
    # Claim the run with a write first: it locks the row (PostgreSQL: a second delivery waits,
    # then finds it finished) and takes SQLite's write lock before any read (no upgrade race).
    if not await repository.claim_run(session, run_id, started):
        return await repository.get_run(session, run_id)
    run = await repository.get_run(session, run_id)
    if run is None:
        return None
    await repository.lock_kind(session, tenant, run.kind)
    settings = await get_settings(session)
    window = repository.Window(
        tenant=tenant,
        kind=run.kind,
        as_of=run.as_of,
        window_days=run.window_days,
        engagement_events=tuple(settings.engagement_events),
    )
    previous = await repository.previous_run_id(session, run.kind, run.id)
    thresholds = run.cut_points if run.method is RfmMethod.THRESHOLDS else None
    try:
        async with session.begin_nested():
            outcome = await repository.score_run(
                session, window, run.id, previous, started, thresholds
            )
    except DBAPIError as exc:
        if not _fails_again(exc):
            raise  # a lost connection, a locked database…: the task is retried
        log.exception("rfm_run_failed", run_id=str(run.id))
        run.status = RfmRunStatus.FAILED
        run.error = f"{type(exc.orig).__name__}: {exc.orig}"[:500]
        run.finished_at = utcnow()
        await session.flush()
        return run
    run.status = RfmRunStatus.SUCCEEDED
    run.cut_points = outcome.cut_points
    run.scored_count = outcome.scored
    run.changed_count = outcome.changed
    run.finished_at = max(utcnow(), started)
    await session.flush()
    await signals.send(RFM_RUN_FINISHED, session, tenant)
    if outcome.changed:
        await enqueue(session, EMIT_TASK, tenant=tenant, run_id=str(run.id), after=None)
    return run


# SQLSTATE classes of errors a statement meets again on a retry: data exception, integrity
# constraint violation, syntax error or access rule violation.
_DETERMINISTIC_SQLSTATES = ("22", "23", "42")


def _fails_again(exc: DBAPIError) -> bool:
    """Whether running the same statement again would fail the same way (then the run fails)."""
    if isinstance(exc, DataError | IntegrityError | ProgrammingError):
        return True
    code = getattr(exc.orig, "sqlstate", None)
    return isinstance(code, str) and code[:2] in _DETERMINISTIC_SQLSTATES


async def emit_changes(
    session: AsyncSession,
    tenant: TenantId,
    run_id: UUID,
    after: UUID | None = None,
    *,
    limit: int = EMIT_CHUNK,
) -> UUID | None:
    """Ingest ``rfm.segment_changed`` for the next ``limit`` changed profiles after ``after``;
    the cursor of the chunk after (None when done). Event ids are deterministic: a chunk sent
    twice stores its events once."""
    run = await repository.get_run(session, run_id)
    if run is None or run.status is not RfmRunStatus.SUCCEEDED:
        return None
    changed = await repository.changed_scores(session, run_id, after, limit)
    events = [
        EventIn(
            event_id=f"rfm:{run_id}:{score.profile_id}",
            name=SEGMENT_CHANGED,
            occurred_at=run.as_of,
            profile_id=score.profile_id,
            properties={
                "kind": run.kind.value,
                "from": score.previous_segment,
                "to": score.segment,
                "direction": score.direction.value if score.direction else None,
                "runId": str(run_id),
            },
        )
        for score in changed
    ]
    if events:
        outcomes = await events_service.ingest(session, tenant, events, source=EVENT_SOURCE)
        refused = [o for o in outcomes if o.outcome.value == "rejected"]
        if refused:
            log.warning(
                "rfm_segment_changed_rejected",
                run_id=str(run_id),
                count=len(refused),
                reason=refused[0].reason,
            )
    return changed[-1].profile_id if len(changed) == limit else None


# Scores ----------------------------------------------------------------------------------------


async def list_scores(
    session: AsyncSession,
    page: PageRequest,
    *,
    kind: RfmKind = RfmKind.PURCHASE,
    run_id: UUID | None = None,
    segment: str | None = None,
) -> tuple[list[RfmScore], str | None]:
    """Scores of one run in profile order: ``run_id``'s, or the current run of ``kind``
    (none yet: an empty page)."""
    if run_id is not None:
        run = await get_run(session, run_id)
        target: UUID | None = run.id
    else:
        target = await repository.current_run_id(session, kind)
    if target is None:
        return [], None
    return await repository.list_scores(session, page, target, segment)


@dataclass(frozen=True)
class ProfileScore:
    score: RfmScore
    run: RfmRun


@dataclass(frozen=True)
class ProfileRfm:
    current: dict[RfmKind, ProfileScore]
    history: list[ProfileScore]


async def profile_scores(session: AsyncSession, profile_id: UUID) -> ProfileRfm:
    """The profile's current score of each kind and every score it had (a merged id raises
    ProfileMerged, as profiles do)."""
    profile = await profile_service.get_profile(session, profile_id)
    history = [
        ProfileScore(s, r) for s, r in await repository.scores_of_profile(session, profile.id)
    ]
    current: dict[RfmKind, ProfileScore] = {}
    for kind in RfmKind:
        run_id = await repository.current_run_id(session, kind)
        found = next((item for item in history if item.run.id == run_id), None)
        if found is not None:
            current[kind] = found
    return ProfileRfm(current, history)


async def current_scores_of_many(
    session: AsyncSession, profile_ids: Sequence[UUID]
) -> dict[UUID, dict[RfmKind, ProfileScore]]:
    """Each profile's score in the current run of each kind (``ProfileRfm.current`` of many
    profiles), in one query per kind and one for the scores, whatever their number (template
    contexts of a batch of sends)."""
    by_profile: dict[UUID, dict[RfmKind, ProfileScore]] = {i: {} for i in profile_ids}
    runs = {kind: await repository.current_run_id(session, kind) for kind in RfmKind}
    current = [run for run in runs.values() if run is not None]
    for score, run in await repository.scores_in_runs(session, profile_ids, current):
        by_profile.setdefault(score.profile_id, {})[run.kind] = ProfileScore(score, run)
    return by_profile


# Schedule --------------------------------------------------------------------------------------


def period_start(schedule: RfmSchedule, now: dt.datetime) -> dt.datetime | None:
    """The start (UTC) of the schedule's period holding ``now``; None when off."""
    day = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if schedule is RfmSchedule.DAILY:
        return day
    if schedule is RfmSchedule.WEEKLY:
        return day - dt.timedelta(days=day.weekday())
    if schedule is RfmSchedule.MONTHLY:
        return day.replace(day=1)
    return None


async def schedule_due_runs(
    session: AsyncSession, tenant: TenantId, now: dt.datetime | None = None
) -> list[UUID]:
    """Queue the brand's scheduled run of each kind for the current period, once: a run per
    (kind, period) is unique, so replicas and repeated ticks add nothing, and after downtime
    only the current period runs (as of its start). The ids of the runs queued now."""
    now = now or utcnow()
    settings = await get_settings(session)
    slot = period_start(settings.schedule, now)
    if slot is None:
        return []
    queued: list[UUID] = []
    for kind in RfmKind:
        values = {"tenant_id": tenant, **_new_run(settings, kind, slot, slot)}
        values["created_at"] = values["updated_at"] = now
        statement = (
            insert_for(session, RfmRun)
            .values(values)
            .on_conflict_do_nothing(index_elements=["tenant_id", "kind", "scheduled_for"])
        )
        result = await session.execute(statement)
        if getattr(result, "rowcount", 0):
            queued.append(values["id"])
            await enqueue(session, RUN_TASK, tenant=tenant, run_id=str(values["id"]))
    return queued


async def active_brand_ids(session: AsyncSession) -> list[UUID]:
    return await repository.active_brand_ids(session)


# Profiles --------------------------------------------------------------------------------------


async def forget_merged(
    session: AsyncSession, tenant: TenantId, survivor_id: UUID, merged_id: UUID
) -> None:
    """The merged profile's scores go: the survivor is scored with both histories next run."""
    await repository.delete_profile_scores(session, merged_id)


async def forget_profile(session: AsyncSession, tenant: TenantId, profile_id: UUID) -> None:
    await repository.delete_profile_scores(session, profile_id)


async def forget_brand(session: AsyncSession, tenant: TenantId) -> None:
    """Scores carry no foreign key (see RfmScore): they go with their brand here."""
    await repository.delete_brand_scores(session)


def connect(signals: Signals) -> None:
    """Connect the scores' receivers: scores go with their profile and their brand."""
    signals.connect(profile_service.PROFILE_MERGED, forget_merged)
    signals.connect(profile_service.PROFILE_DELETED, forget_profile)
    signals.connect(tenancy_service.BRAND_DELETING, forget_brand)
