"""When a campaign's occurrences happen, planned as due work: the first from the schedule (a
moment in the past or a rule that never fires refused), each next one of a recurring campaign
when the previous one starts. A start is keyed by its campaign and planned moment: stored once,
claimed once, whatever the schedulers and their restarts."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from backend.campaigns import checks
from backend.campaigns.models import Campaign, ScheduleKind
from backend.campaigns.schedule import Recurrence, first_reached, wall_in, wall_time, zone
from backend.core import due_work
from backend.core.tenancy import TenantId

START_TASK = "campaigns.start"


def start_key(campaign_id: UUID, planned_at: dt.datetime) -> str:
    return f"campaigns:start:{campaign_id}:{planned_at.isoformat()}"


async def drop_start(session: AsyncSession, campaign: Campaign) -> None:
    if campaign.next_run_at is not None:
        await due_work.cancel_scheduled(session, [start_key(campaign.id, campaign.next_run_at)])


def first_run(
    campaign: Campaign, brand_zone: str, now: dt.datetime
) -> tuple[dt.datetime, dt.datetime]:
    """(planned moment, start moment) of the campaign's next occurrence from ``now``: 422 for
    a moment in the past or a rule that never fires. A per-recipient local time starts when
    the wall time is first reached anywhere."""
    kind = campaign.schedule_kind
    if kind is ScheduleKind.NOW:
        return now, now
    if kind is ScheduleKind.AT:
        assert campaign.send_at is not None
        checks.check_future(campaign.send_at, now, "/schedule/sendAt", "sendAt")
        return campaign.send_at, campaign.send_at
    if kind is ScheduleKind.LOCAL:
        checks.check_local_future(campaign, brand_zone, now)
        assert campaign.local_time is not None
        reached = first_reached(wall_time(campaign.local_time))
        return reached, max(reached, now)
    planned = next_occurrence(campaign, brand_zone, now - dt.timedelta(microseconds=1))
    if planned is None:
        raise checks.never_fires(campaign)
    return planned, start_of(campaign, brand_zone, planned, now)


def _recurrence(campaign: Campaign, brand_zone: str) -> Recurrence:
    assert campaign.rrule is not None
    assert campaign.starts_at is not None
    return Recurrence.parse(
        campaign.rrule, campaign.starts_at, zone(campaign.time_zone, brand_zone)
    )


def next_occurrence(campaign: Campaign, brand_zone: str, after: dt.datetime) -> dt.datetime | None:
    return _recurrence(campaign, brand_zone).next_after(after)


def start_of(
    campaign: Campaign, brand_zone: str, planned: dt.datetime, now: dt.datetime
) -> dt.datetime:
    """When a recurring occurrence starts: its date, or, in each recipient's zone, when its
    wall time is first reached anywhere (never before now)."""
    if not campaign.per_recipient_time_zone:
        return max(planned, now)
    wall = wall_in(planned, zone(campaign.time_zone, brand_zone))
    return max(min(planned, first_reached(wall)), now)


async def schedule_start(
    session: AsyncSession,
    tenant: TenantId,
    campaign: Campaign,
    planned_at: dt.datetime,
    start_at: dt.datetime,
) -> None:
    """Plan the occurrence at ``planned_at`` to start at ``start_at`` (due work: kept across
    restarts, claimed once whatever the schedulers)."""
    campaign.next_run_at = planned_at
    await due_work.schedule(
        session,
        START_TASK,
        start_at,
        tenant=tenant,
        dedupe_key=start_key(campaign.id, planned_at),
        campaign_id=str(campaign.id),
        planned_at=planned_at.isoformat(),
    )
