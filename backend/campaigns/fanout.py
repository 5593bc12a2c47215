"""The fan-out of an occurrence, exactly once, in steps that each commit alone:

1. **start** (at its planned moment): the occurrence row, unique per campaign and moment, with
   what it sends frozen (:class:`~backend.campaigns.plan.Plan`); a recurring campaign's next
   start is planned;
2. **snapshot**: the audience, page by page (one query per page from segments), written
   set-based into ``campaign_recipients`` (one ``INSERT … ON CONFLICT DO NOTHING`` per page) with
   each recipient's variant, holdout or exclusion and due time (its time zone, send-time
   optimisation, the variant's delay);
3. **release**, chunk by chunk: the due recipients' messages recorded in the ledger in one
   statement per table (``messaging.record_many``, keyed ``campaign:<occurrence>:<profile>:
   <channel>``), the recipients marked released in one, a batch delivery queued — all in one
   transaction, so a chunk is released whole or not at all, and a chunk run twice finds its
   keys taken; the throttle spaces the chunks;
4. **decide** (a winner test): the winner by its metric, given to the rest, then released;
5. **settle**: once every recipient is released and no message is queued or on its way, the
   occurrence is sent.

Each step locks the campaign, then the occurrence (PostgreSQL; SQLite has one writer): a pause
or a cancel waits for the chunk under way, and the next chunk sees it. Workers killed anywhere
lose nothing: an uncommitted step is run again by its redelivered task, a message claimed by a
dead worker is claimed again after its lease (messaging), and keys make every repetition a
no-op.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections import Counter
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from backend.campaigns import planning, repository, variants, winner
from backend.campaigns.assignment import point
from backend.campaigns.models import (
    Campaign,
    CampaignOccurrence,
    CampaignStatus,
    OccurrenceKind,
    OccurrenceStatus,
    RecipientState,
    ScheduleKind,
)
from backend.campaigns.plan import Plan, PlannedVariant
from backend.campaigns.schedule import at_wall, wall_in, wall_time, zone
from backend.core import due_work
from backend.core.db import start_as_writer, utcnow
from backend.core.errors import InvalidInput
from backend.core.ids import new_id
from backend.core.jobs import enqueue
from backend.core.tenancy import TenantId
from backend.messaging import service as messaging
from backend.messaging.models import SourceKind
from backend.profiles import service as profiles_service
from backend.segments import service as segments_service
from backend.tenancy import service as tenancy_service

log = structlog.get_logger("levier.campaigns")

START_TASK = planning.START_TASK
SNAPSHOT_TASK = "campaigns.snapshot"
RELEASE_TASK = "campaigns.release"
DECIDE_TASK = "campaigns.decide"
SETTLE_TASK = "campaigns.settle"
WITHDRAW_TASK = "campaigns.withdraw"

PAGE = 2000  # audience profiles read and written per statement
PAGES_PER_TASK = 5
CHUNK = 500  # recipients released per transaction (the ledger's batch size)
SETTLE_EVERY = dt.timedelta(seconds=15)
# Message ids are time-ordered: an occurrence's are no older than its start (less clock skew).
CLOCK_SKEW = dt.timedelta(hours=1)


def plan_of(
    campaign: Campaign,
    planned: Sequence[PlannedVariant],
    *,
    brand_zone: str,
    local_wall: str | None,
) -> Plan:
    return Plan(
        variants=tuple(planned),
        include=tuple(UUID(i) for i in campaign.include_segment_ids),
        exclude=tuple(UUID(i) for i in campaign.exclude_segment_ids),
        topic=campaign.topic,
        priority=campaign.priority,
        deferrable=campaign.defer_over_pressure,
        fallback_channel=campaign.fallback_channel,
        fallback_template_id=campaign.fallback_template_id,
        mode=campaign.test_mode,
        test_percent=campaign.test_percent,
        holdout_percent=campaign.holdout_percent,
        winner_metric=campaign.winner_metric.value if campaign.winner_metric else None,
        goal_event=campaign.goal_event,
        attribution_hours=campaign.attribution_hours,
        decide_after_minutes=campaign.decide_after_minutes,
        throttle_per_hour=campaign.throttle_per_hour,
        send_time_optimization=campaign.send_time_optimization,
        optimization_window_hours=campaign.optimization_window_hours,
        local_wall=local_wall,
        brand_zone=brand_zone,
    )


def since_of(occurrence: CampaignOccurrence) -> dt.datetime:
    """A bound below every message id of the occurrence (the ledger prunes its partitions)."""
    return occurrence.started_at - CLOCK_SKEW


async def _locked(
    session: AsyncSession, occurrence_id: UUID
) -> tuple[Campaign, CampaignOccurrence] | None:
    """The occurrence and its campaign, locked in that order (the order every writer takes)."""
    await start_as_writer(session, "campaign_occurrences")
    found = await repository.get_occurrence(session, occurrence_id)
    if found is None:
        return None
    campaign = await repository.get_campaign(session, found.campaign_id, lock=True)
    occurrence = await repository.get_occurrence(session, occurrence_id, lock=True)
    if campaign is None or occurrence is None:
        return None
    return campaign, occurrence


# 1. Start --------------------------------------------------------------------------------------


async def start(
    session: AsyncSession,
    tenant: TenantId,
    campaign_id: UUID,
    planned_at: dt.datetime,
    *,
    now: dt.datetime | None = None,
) -> UUID | None:
    """Start the occurrence planned at ``planned_at`` (once: a second run, or a stale start
    of a rescheduled campaign, does nothing); its id when it started now."""
    now = now or utcnow()
    await start_as_writer(session, "campaigns")
    campaign = await repository.get_campaign(session, campaign_id, lock=True)
    if campaign is None or campaign.status not in (
        CampaignStatus.SCHEDULED,
        CampaignStatus.SENDING,
    ):
        return None  # paused: resuming starts it; cancelled, deleted: never
    if campaign.next_run_at != planned_at:
        return None  # rescheduled since
    brand_zone = (await tenancy_service.get_brand(session, tenant)).time_zone or "UTC"
    occurrence_id = new_id()
    values: dict[str, Any] = {
        "id": occurrence_id,
        "campaign_id": campaign.id,
        "kind": OccurrenceKind.SCHEDULED,
        "planned_at": planned_at,
        "started_at": now,
        "created_at": now,
        "updated_at": now,
    }
    try:
        planned = await variants.resolve(
            session, tenant, campaign, await repository.variants_of(session, campaign.id)
        )
    except InvalidInput as exc:  # its template or version was deleted since it was scheduled
        values |= {"status": OccurrenceStatus.FAILED, "config": {}, "failure": exc.detail}
        values |= {"finished_at": now}
        planned = None
    if planned is not None:
        wall = None
        if campaign.schedule_kind is ScheduleKind.LOCAL and campaign.local_time:
            wall = wall_time(campaign.local_time).isoformat()
        elif campaign.per_recipient_time_zone:
            wall = wall_in(planned_at, zone(campaign.time_zone, brand_zone)).isoformat()
        plan = plan_of(campaign, planned, brand_zone=brand_zone, local_wall=wall)
        values |= {"status": OccurrenceStatus.PREPARING, "config": plan.to_json()}
    if not await repository.insert_occurrence(session, values):
        return None
    campaign.status = CampaignStatus.SENDING
    await _plan_next(session, tenant, campaign, brand_zone, planned_at, now)
    if planned is None:
        log.warning("campaign_occurrence_failed", campaign_id=str(campaign.id))
        await _after_occurrence(session, campaign, now)
        return None
    await enqueue(session, SNAPSHOT_TASK, tenant=tenant, occurrence_id=str(occurrence_id))
    return occurrence_id


async def _plan_next(
    session: AsyncSession,
    tenant: TenantId,
    campaign: Campaign,
    brand_zone: str,
    planned_at: dt.datetime,
    now: dt.datetime,
) -> None:
    if campaign.schedule_kind is not ScheduleKind.RECURRING:
        campaign.next_run_at = None
        return
    following = planning.next_occurrence(campaign, brand_zone, planned_at)
    if following is None:
        campaign.next_run_at = None
        return
    start_at = planning.start_of(campaign, brand_zone, following, now)
    await planning.schedule_start(session, tenant, campaign, following, start_at)


async def start_test(
    session: AsyncSession, tenant: TenantId, campaign: Campaign, plan: Plan, seeds: list[UUID]
) -> CampaignOccurrence:
    """A test send's occurrence: the seeds as recipients of the plan's one variant, released
    at once."""
    now = utcnow()
    occurrence_id = new_id()
    await repository.insert_occurrence(
        session,
        {
            "id": occurrence_id,
            "campaign_id": campaign.id,
            "kind": OccurrenceKind.TEST,
            "planned_at": now,
            "status": OccurrenceStatus.SENDING,
            "config": plan.to_json(),
            "started_at": now,
            "prepared_at": now,
            "created_at": now,
            "updated_at": now,
        },
    )
    key = plan.variants[0].key
    rows = [_row(occurrence_id, p, RecipientState.WAITING, key, None, now) for p in seeds]
    states = await repository.insert_recipients(session, rows)
    occurrence = await repository.get_occurrence(session, occurrence_id)
    assert occurrence is not None
    occurrence.targeted = len(states)
    await release_later(session, tenant, occurrence.id)
    await session.flush()
    return occurrence


# 2. Snapshot -----------------------------------------------------------------------------------


def _row(
    occurrence_id: UUID,
    profile_id: UUID,
    state: RecipientState,
    variant: str | None,
    due_at: dt.datetime | None,
    now: dt.datetime,
    reason: str | None = None,
) -> dict[str, Any]:
    return {
        "occurrence_id": occurrence_id,
        "profile_id": profile_id,
        "variant": variant,
        "state": state.value,
        "reason": reason,
        "due_at": due_at,
        "released_at": None,
        "message_id": None,
        "created_at": now,
        "updated_at": now,
    }


async def _optimal_times(
    session: AsyncSession,
    tenant: TenantId,
    profile_ids: list[UUID],
    start: dt.datetime,
    hours: int,
) -> dict[UUID, dt.datetime]:
    """Each profile's best moment in [start, start + hours] (send-time optimisation)."""
    if not profile_ids:
        return {}
    # The optimiser lives beside this module (backend/campaigns/send_time.py), imported when
    # a campaign uses it: its contract is `optimal_send_times(session, tenant, profile_ids,
    # SendWindow(start, end)) -> {profile id: aware UTC moment within the window}`.
    send_time: Any = importlib.import_module("backend.campaigns.send_time")
    window = send_time.SendWindow(start=start, end=start + dt.timedelta(hours=hours))
    times: dict[UUID, dt.datetime] = await send_time.optimal_send_times(
        session, tenant, profile_ids, window
    )
    return {p: min(max(t, window.start), window.end) for p, t in times.items()}


async def _recipient_rows(
    session: AsyncSession,
    tenant: TenantId,
    campaign_id: UUID,
    occurrence: CampaignOccurrence,
    plan: Plan,
    page: list[tuple[UUID, bool]],
    now: dt.datetime,
) -> list[dict[str, Any]]:
    """One page of the audience as recipient rows: excluded, holdout, or a variant (or the
    winner to come) with its due time."""
    split = plan.split
    included = [p for p, excluded in page if not excluded]
    zones: dict[UUID, str | None] = {}
    if plan.local_wall is not None:
        profiles = await profiles_service.profiles_by_ids(session, included)
        zones = {p.id: p.time_zone for p in profiles.values()}
    optimal: dict[UUID, dt.datetime] = {}
    if plan.send_time_optimization:
        start = max(occurrence.planned_at, now)
        optimal = await _optimal_times(
            session, tenant, included, start, plan.optimization_window_hours
        )
    rows = []
    for profile_id, excluded in page:
        if excluded:
            state, key, reason = RecipientState.EXCLUDED, None, "excluded-segment"
            rows.append(_row(occurrence.id, profile_id, state, key, None, now, reason))
            continue
        state, key = split.assign(point(campaign_id, profile_id))
        due: dt.datetime | None = None
        if state is not RecipientState.HOLDOUT:
            if plan.local_wall is not None:
                where = zone(zones.get(profile_id), plan.brand_zone)
                due = at_wall(dt.datetime.fromisoformat(plan.local_wall), where)
            elif profile_id in optimal:
                due = optimal[profile_id]
            if key is not None and plan.variant(key).send_delay_minutes:
                delay = dt.timedelta(minutes=plan.variant(key).send_delay_minutes)
                due = (due or max(occurrence.planned_at, occurrence.started_at)) + delay
        rows.append(_row(occurrence.id, profile_id, state, key, due, now))
    return rows


async def snapshot(session: AsyncSession, tenant: TenantId, occurrence_id: UUID) -> None:
    """Write the next pages of the occurrence's audience (queued again until the last page),
    then open it for release (and plan the winner's decision)."""
    locked = await _locked(session, occurrence_id)
    if locked is None:
        return
    campaign, occurrence = locked
    if occurrence.status is not OccurrenceStatus.PREPARING:
        return
    plan = Plan.of(occurrence)
    now = utcnow()
    for _ in range(PAGES_PER_TASK):
        page = await segments_service.audience(
            session,
            plan.include,
            plan.exclude,
            after=occurrence.snapshot_after,
            limit=PAGE,
        )
        if page:
            rows = await _recipient_rows(session, tenant, campaign.id, occurrence, plan, page, now)
            counted = Counter(await repository.insert_recipients(session, rows))
            occurrence.targeted += sum(counted.values())
            occurrence.excluded += counted[RecipientState.EXCLUDED]
            occurrence.holdout += counted[RecipientState.HOLDOUT]
            occurrence.snapshot_after = page[-1][0]
        if len(page) < PAGE:
            break
    else:
        await enqueue(session, SNAPSHOT_TASK, tenant=tenant, occurrence_id=str(occurrence.id))
        return
    occurrence.prepared_at = now
    keys = plan.source_keys(occurrence.id)
    if campaign.status is CampaignStatus.PAUSED:
        occurrence.status = OccurrenceStatus.PAUSED
        await messaging.hold(session, SourceKind.CAMPAIGN, keys)
    else:
        occurrence.status = OccurrenceStatus.SENDING
    if plan.picks_winner and plan.decide_after_minutes is not None:
        longest = max(v.send_delay_minutes for v in plan.variants)
        decide_at = now + dt.timedelta(minutes=plan.decide_after_minutes + longest)
        occurrence.decide_at = decide_at
        await due_work.schedule(
            session,
            DECIDE_TASK,
            decide_at,
            tenant=tenant,
            dedupe_key=f"campaigns:decide:{occurrence.id}",
            occurrence_id=str(occurrence.id),
        )
    await release_later(session, tenant, occurrence.id)


# 3. Release ------------------------------------------------------------------------------------


async def release_later(session: AsyncSession, tenant: TenantId, occurrence_id: UUID) -> None:
    await enqueue(session, RELEASE_TASK, tenant=tenant, occurrence_id=str(occurrence_id))


async def _release_at(
    session: AsyncSession, tenant: TenantId, occurrence_id: UUID, when: dt.datetime
) -> None:
    await due_work.schedule(
        session,
        RELEASE_TASK,
        when,
        tenant=tenant,
        dedupe_key=f"campaigns:release:{occurrence_id}:{when.isoformat()}",
        occurrence_id=str(occurrence_id),
    )


def _allowance(plan: Plan) -> int:
    """Recipients released per transaction: a chunk, or a minute of the throttle."""
    if plan.throttle_per_hour is None:
        return CHUNK
    return max(1, min(CHUNK, plan.throttle_per_hour // 60))


def _message(
    occurrence: CampaignOccurrence, plan: Plan, profile_id: UUID, key: str
) -> messaging.NewMessage:
    variant = plan.variant(key)
    return messaging.NewMessage(
        dedupe_key=f"campaign:{occurrence.id}:{profile_id}:{variant.channel.value}",
        source_kind=SourceKind.CAMPAIGN,
        source_key=plan.source_key(occurrence.id, key),
        profile_id=profile_id,
        channel=variant.channel,
        template_id=variant.template_id,
        priority=plan.priority,
        topic=plan.topic,
        fallback=plan.fallback_for(variant.channel),
        deferrable=plan.deferrable,
        template_version_id=variant.version_id,
        sender_identity_id=variant.sender_identity_id,
    )


async def release(
    session: AsyncSession, tenant: TenantId, occurrence_id: UUID, *, now: dt.datetime | None = None
) -> int:
    """Release the next chunk of due recipients as messages of the ledger, and plan what comes
    next (the next chunk, a later due time, the winner, or settling); how many were released.
    Nothing while the occurrence is paused, cancelled or done."""
    locked = await _locked(session, occurrence_id)
    if locked is None:
        return 0
    _, occurrence = locked
    if occurrence.status is not OccurrenceStatus.SENDING:
        return 0
    plan = Plan.of(occurrence)
    now = now or utcnow()
    ready = occurrence.throttle_ready_at
    if ready is not None and ready > now:
        await _release_at(session, tenant, occurrence.id, ready)
        return 0
    limit = _allowance(plan)
    due = await repository.take_due(session, occurrence.id, now, limit)
    if due:
        wanted = [_message(occurrence, plan, p, key) for p, key in due if key is not None]
        ids = await messaging.record_many(session, tenant, wanted)
        released = [(m.profile_id, ids[m.dedupe_key]) for m in wanted]
        await repository.mark_released(session, occurrence.id, released, now)
        occurrence.released += len(released)
        await messaging.deliver_later(session, tenant)
        if plan.throttle_per_hour is not None:
            spacing = dt.timedelta(hours=len(due) / plan.throttle_per_hour)
            occurrence.throttle_ready_at = ready = now + spacing
    if len(due) >= limit:
        if ready is not None and ready > now:
            await _release_at(session, tenant, occurrence.id, ready)
        else:
            await release_later(session, tenant, occurrence.id)
        return len(due)
    following = await repository.next_due(session, occurrence.id)
    if following is not None:
        await _release_at(session, tenant, occurrence.id, max(following, ready or following))
    elif not await repository.has_state(
        session, occurrence.id, [RecipientState.WAITING, RecipientState.AWAITING_WINNER]
    ):
        await enqueue(session, SETTLE_TASK, tenant=tenant, occurrence_id=str(occurrence.id))
    return len(due)


# 4. Decide -------------------------------------------------------------------------------------


async def decide(
    session: AsyncSession, tenant: TenantId, occurrence_id: UUID, *, now: dt.datetime | None = None
) -> str | None:
    """Pick the test's winner by its metric and give it to the rest of the audience (released
    next); the winner, or None when there is nothing to decide."""
    locked = await _locked(session, occurrence_id)
    if locked is None:
        return None
    _, occurrence = locked
    if occurrence.winner_variant is not None or occurrence.status not in (
        OccurrenceStatus.SENDING,
        OccurrenceStatus.PAUSED,
    ):
        return None
    plan = Plan.of(occurrence)
    now = now or utcnow()
    scores = await winner.score(session, plan, occurrence, since_of(occurrence), now)
    chosen = winner.pick(plan, scores)
    occurrence.winner_variant = chosen
    occurrence.winner_scores = {key: score.to_json() for key, score in scores.items()}
    delay = plan.variant(chosen).send_delay_minutes
    not_before = now + dt.timedelta(minutes=delay) if delay else None
    given = await repository.give_winner(session, occurrence.id, chosen, not_before)
    log.info("campaign_winner", occurrence_id=str(occurrence.id), winner=chosen, rest=given)
    await release_later(session, tenant, occurrence.id)
    return chosen


# 5. Settle -------------------------------------------------------------------------------------


async def settle(
    session: AsyncSession, tenant: TenantId, occurrence_id: UUID, *, now: dt.datetime | None = None
) -> bool:
    """Mark the occurrence sent once every recipient is released and none of its messages is
    queued or on its way (checked again later otherwise); True when it was."""
    locked = await _locked(session, occurrence_id)
    if locked is None:
        return False
    campaign, occurrence = locked
    if occurrence.status is not OccurrenceStatus.SENDING:
        return False
    if await repository.has_state(
        session, occurrence.id, [RecipientState.WAITING, RecipientState.AWAITING_WINNER]
    ):
        return False  # the release goes on, and settles when done
    now = now or utcnow()
    keys = Plan.of(occurrence).source_keys(occurrence.id)
    if await messaging.in_flight(session, SourceKind.CAMPAIGN, keys, since_of(occurrence)):
        later = now + SETTLE_EVERY
        await due_work.schedule(
            session,
            SETTLE_TASK,
            later,
            tenant=tenant,
            dedupe_key=f"campaigns:settle:{occurrence.id}:{later.isoformat()}",
            occurrence_id=str(occurrence.id),
        )
        return False
    occurrence.status = OccurrenceStatus.SENT
    occurrence.finished_at = now
    if occurrence.kind is OccurrenceKind.SCHEDULED:
        await _after_occurrence(session, campaign, now)
    return True


async def _after_occurrence(session: AsyncSession, campaign: Campaign, now: dt.datetime) -> None:
    """The campaign's state once an occurrence is over: still sending while another one is,
    scheduled when a next one is planned, sent otherwise."""
    if campaign.status is not CampaignStatus.SENDING:
        return  # paused or cancelled meanwhile: resuming or nothing decides
    running = [
        o
        for o in await repository.active_occurrences(session, campaign.id)
        if o.kind is OccurrenceKind.SCHEDULED
    ]
    if running:
        return
    if campaign.next_run_at is not None:
        campaign.status = CampaignStatus.SCHEDULED
    else:
        campaign.status = CampaignStatus.SENT
        campaign.finished_at = now


# Cancel ----------------------------------------------------------------------------------------


async def withdraw(session: AsyncSession, tenant: TenantId, occurrence_id: UUID) -> bool:
    """Withdraw a chunk of a cancelled occurrence's waiting messages (refused
    `campaign-cancelled`, told); True when more may be left."""
    occurrence = await repository.get_occurrence(session, occurrence_id)
    if occurrence is None or occurrence.status is not OccurrenceStatus.CANCELLED:
        return False
    keys = Plan.of(occurrence).source_keys(occurrence.id)
    taken = await messaging.withdraw(
        session, tenant, SourceKind.CAMPAIGN, keys, "campaign-cancelled", limit=CHUNK
    )
    return taken >= CHUNK
