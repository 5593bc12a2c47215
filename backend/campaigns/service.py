"""Campaigns: write and read them, schedule them (checked: audience, schedule, content), pause,
resume and cancel them, send a test to a seed list, and read their progress. The fan-out
itself (snapshot, release, winner, settling) is :mod:`backend.campaigns.fanout`. Services
never commit.

Lifecycle: draft → scheduled → sending → sent (a recurring campaign goes back to scheduled
between its occurrences); pause and resume from scheduled or sending; cancel at any point
before the end. A draft or a scheduled campaign can be edited (a scheduled one is checked and
planned again); a sending one can only be paused or cancelled.
"""

from __future__ import annotations

import datetime as dt
from uuid import UUID

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from backend.billing import service as billing_service
from backend.campaigns import checks, fanout, planning, repository, variants
from backend.campaigns.models import (
    Campaign,
    CampaignOccurrence,
    CampaignRecipient,
    CampaignStatus,
    CampaignVariant,
    OccurrenceKind,
    OccurrenceStatus,
    RecipientState,
    ScheduleKind,
)
from backend.campaigns.plan import Plan
from backend.campaigns.progress import occurrence_progress
from backend.campaigns.schemas import (
    CampaignCreate,
    CampaignProgress,
    CampaignTestSendIn,
    CampaignUpdate,
    CampaignVariantIn,
)
from backend.config import Settings
from backend.core.db import start_as_writer, utcnow
from backend.core.errors import Conflict, InvalidInput, NotFound
from backend.core.jobs import enqueue
from backend.core.pagination import PageRequest
from backend.core.signals import Signals
from backend.core.tenancy import TenantId
from backend.messaging import service as messaging
from backend.messaging.models import MessagePriority, SourceKind
from backend.profiles import service as profiles_service
from backend.programs import service as programs_service
from backend.programs.models import Program
from backend.segments import service as segments_service
from backend.tenancy import service as tenancy_service

EDITABLE = (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED)
WITHDRAWN = "campaign-cancelled"


class CampaignConflict(Conflict):
    slug, title = "campaign-state", "Not in this campaign state"


def _refuse(campaign: Campaign, action: str) -> CampaignConflict:
    return CampaignConflict(f"a {campaign.status.value} campaign cannot be {action}")


# Reading ---------------------------------------------------------------------------------------


async def get_campaign(session: AsyncSession, campaign_id: UUID) -> Campaign:
    campaign = await repository.get_campaign(session, campaign_id)
    if campaign is None:
        raise NotFound("campaign not found")
    return campaign


async def with_variants(
    session: AsyncSession, campaign_id: UUID
) -> tuple[Campaign, list[CampaignVariant]]:
    campaign = await get_campaign(session, campaign_id)
    return campaign, await repository.variants_of(session, campaign.id)


async def list_campaigns(
    session: AsyncSession, page: PageRequest
) -> tuple[list[tuple[Campaign, list[CampaignVariant]]], str | None]:
    """The brand's campaigns in creation order, each with its variants (two queries)."""
    campaigns, cursor = await repository.list_campaigns(session, page)
    found = await repository.variants_of_many(session, [c.id for c in campaigns])
    return [(c, found.get(c.id, [])) for c in campaigns], cursor


async def count_campaigns(session: AsyncSession) -> int:
    return await repository.count_campaigns(session)


async def get_occurrence(
    session: AsyncSession, campaign_id: UUID, occurrence_id: UUID
) -> CampaignOccurrence:
    occurrence = await repository.get_occurrence(session, occurrence_id)
    if occurrence is None or occurrence.campaign_id != campaign_id:
        raise NotFound("occurrence not found")
    return occurrence


async def list_occurrences(
    session: AsyncSession, campaign_id: UUID, page: PageRequest
) -> tuple[list[CampaignOccurrence], str | None]:
    campaign = await get_campaign(session, campaign_id)
    return await repository.list_occurrences(session, campaign.id, page)


async def list_recipients(
    session: AsyncSession,
    campaign_id: UUID,
    occurrence_id: UUID,
    page: PageRequest,
    *,
    state: RecipientState | None = None,
    variant: str | None = None,
) -> tuple[list[CampaignRecipient], str | None]:
    """An occurrence's recipients by profile id, filtered by state or variant."""
    occurrence = await get_occurrence(session, campaign_id, occurrence_id)
    return await repository.list_recipients(
        session, occurrence.id, page, state=state, variant=variant
    )


async def get_progress(
    session: AsyncSession, campaign_id: UUID, occurrence_id: UUID | None = None
) -> CampaignProgress:
    """Where the campaign stands: its latest occurrence (or the one named) counted from the
    recipients and the ledger. What the REST, GraphQL and subscription answers share."""
    campaign = await get_campaign(session, campaign_id)
    if occurrence_id is not None:
        occurrence: CampaignOccurrence | None = await get_occurrence(
            session, campaign.id, occurrence_id
        )
    else:
        occurrence = await repository.latest_occurrence(session, campaign.id)
    if occurrence is None:
        return CampaignProgress(
            campaign_id=campaign.id, campaign_status=campaign.status, decide_at=None
        )
    return await occurrence_progress(session, campaign, occurrence)


# Writing ---------------------------------------------------------------------------------------


def _variant_rows(campaign: Campaign, given: list[CampaignVariantIn]) -> list[CampaignVariant]:
    given = given or [CampaignVariantIn(key="a")]
    return [
        CampaignVariant(
            campaign_id=campaign.id,
            key=v.key,
            position=index,
            name=v.name,
            weight=v.weight,
            channel=v.channel,
            template_id=v.template_id,
            template_version=v.template_version,
            subject=v.subject,
            sender_identity_id=v.sender_identity_id,
            send_delay_minutes=v.send_delay_minutes,
        )
        for index, v in enumerate(given)
    ]


def _apply(campaign: Campaign, data: CampaignCreate | CampaignUpdate) -> None:
    """Copy the given fields onto the row (nested ones replaced whole)."""

    def given(name: str) -> bool:
        return getattr(data, name, msgspec.UNSET) is not msgspec.UNSET

    for name in (
        "name",
        "description",
        "program_id",
        "channel",
        "template_id",
        "topic",
        "priority",
        "defer_over_pressure",
        "throttle_per_hour",
        "send_time_optimization",
        "optimization_window_hours",
    ):
        if given(name):
            setattr(campaign, name, getattr(data, name))
    if given("audience"):
        audience = data.audience
        assert not isinstance(audience, msgspec.UnsetType)
        campaign.include_segment_ids = [str(i) for i in dict.fromkeys(audience.include)]
        campaign.exclude_segment_ids = [str(i) for i in dict.fromkeys(audience.exclude)]
    if given("fallback"):
        fallback = data.fallback
        assert not isinstance(fallback, msgspec.UnsetType)
        campaign.fallback_channel = fallback.channel if fallback else None
        campaign.fallback_template_id = fallback.template_id if fallback else None
    if given("schedule"):
        schedule = data.schedule
        assert not isinstance(schedule, msgspec.UnsetType)
        campaign.schedule_kind = schedule.kind
        campaign.send_at = schedule.send_at
        campaign.local_time = schedule.local_time
        campaign.rrule = schedule.rrule
        campaign.starts_at = schedule.starts_at
        campaign.time_zone = schedule.time_zone
        campaign.per_recipient_time_zone = schedule.per_recipient_time_zone
    if given("test"):
        test = data.test
        assert not isinstance(test, msgspec.UnsetType)
        campaign.test_mode = test.mode
        campaign.test_percent = test.test_percent
        campaign.winner_metric = test.winner_metric
        campaign.goal_event = test.goal_event
        campaign.attribution_hours = test.attribution_hours
        campaign.decide_after_minutes = test.decide_after_minutes
        campaign.holdout_percent = test.holdout_percent


def _check_aware(campaign: Campaign) -> None:
    for name, value in (("sendAt", campaign.send_at), ("startsAt", campaign.starts_at)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput(
                "expected a date and time with its UTC offset",
                errors=[{"field": name, "pointer": f"/schedule/{name}", "message": "no offset"}],
            )


async def create_campaign(
    session: AsyncSession, tenant: TenantId, data: CampaignCreate
) -> tuple[Campaign, list[CampaignVariant]]:
    """A draft campaign; 422 when its shape or what it names is wrong (nothing stored)."""
    campaign = Campaign(status=CampaignStatus.DRAFT)
    _apply(campaign, data)
    _check_aware(campaign)
    rows = _variant_rows(campaign, data.variants)
    checks.check_shape(campaign, rows)
    await checks.check_references(session, campaign, rows)
    await programs_service.check_program_reference(session, campaign.program_id)
    session.add(campaign)
    await session.flush()
    for row in rows:
        row.campaign_id = campaign.id
        session.add(row)
    await session.flush()
    return campaign, rows


async def update_campaign(
    session: AsyncSession,
    tenant: TenantId,
    settings: Settings,
    campaign_id: UUID,
    data: CampaignUpdate,
    *,
    now: dt.datetime | None = None,
) -> tuple[Campaign, list[CampaignVariant]]:
    """Change a draft, or a scheduled campaign until it starts (checked and planned again);
    409 once it is sending, paused, sent or cancelled."""
    campaign = await _locked(session, campaign_id)
    if campaign.status not in EDITABLE:
        raise CampaignConflict(
            f"a {campaign.status.value} campaign can only be paused or cancelled"
            if campaign.status is CampaignStatus.SENDING
            else f"a {campaign.status.value} campaign cannot be changed"
        )
    _apply(campaign, data)
    _check_aware(campaign)
    rows = await repository.variants_of(session, campaign.id)
    if not isinstance(data.variants, msgspec.UnsetType):
        await repository.delete_variants(session, campaign.id)
        rows = _variant_rows(campaign, data.variants)
        for row in rows:
            session.add(row)
    checks.check_shape(campaign, rows)
    await checks.check_references(session, campaign, rows)
    if not isinstance(data.program_id, msgspec.UnsetType):
        await programs_service.check_program_reference(session, campaign.program_id)
    await session.flush()
    if campaign.status is CampaignStatus.SCHEDULED:
        await _plan(session, tenant, settings, campaign, rows, now or utcnow())
    return campaign, rows


async def delete_campaign(session: AsyncSession, campaign_id: UUID) -> None:
    """Delete a campaign with its occurrences and recipients; 409 while it is sending or
    paused (cancel it first). The ledger keeps the messages it sent."""
    campaign = await _locked(session, campaign_id)
    if campaign.status in (CampaignStatus.SENDING, CampaignStatus.PAUSED):
        raise _refuse(campaign, "deleted (cancel it first)")
    await planning.drop_start(session, campaign)
    await repository.delete_campaign(session, campaign)


async def _locked(session: AsyncSession, campaign_id: UUID) -> Campaign:
    await start_as_writer(session, "campaigns")
    campaign = await repository.get_campaign(session, campaign_id, lock=True)
    if campaign is None:
        raise NotFound("campaign not found")
    return campaign


# Scheduling ------------------------------------------------------------------------------------


async def _plan(
    session: AsyncSession,
    tenant: TenantId,
    settings: Settings,
    campaign: Campaign,
    rows: list[CampaignVariant],
    now: dt.datetime,
) -> None:
    """Check what a schedule must (audience, moment, rule, renders) and plan the next start."""
    brand_zone = (await tenancy_service.get_brand(session, tenant)).time_zone or "UTC"
    if campaign.schedule_kind is ScheduleKind.RECURRING and campaign.starts_at is None:
        campaign.starts_at = now.replace(microsecond=0)
    planned_at, start_at = planning.first_run(campaign, brand_zone, now)
    sample = await checks.audience_sample(session, campaign)
    planned = await variants.resolve(session, tenant, campaign, rows)
    await variants.check_renders(session, tenant, settings, planned, sample)
    await planning.drop_start(session, campaign)
    campaign.scheduled_at = now
    if campaign.schedule_kind is ScheduleKind.NOW:
        campaign.next_run_at = planned_at
        await enqueue(
            session,
            planning.START_TASK,
            tenant=tenant,
            campaign_id=str(campaign.id),
            planned_at=planned_at.isoformat(),
        )
    else:
        await planning.schedule_start(session, tenant, campaign, planned_at, start_at)
    await session.flush()


async def schedule_campaign(
    session: AsyncSession,
    tenant: TenantId,
    settings: Settings,
    campaign_id: UUID,
    *,
    now: dt.datetime | None = None,
) -> Campaign:
    """Schedule a draft: its audience must not be empty, its moment not past, its rule must
    fire, every variant must render for a sample of the audience (422 naming the profile and
    the reason otherwise); then its first occurrence is planned (`now`: at once)."""
    campaign = await _locked(session, campaign_id)
    if campaign.status is not CampaignStatus.DRAFT:
        raise _refuse(campaign, "scheduled (only a draft is)")
    rows = await repository.variants_of(session, campaign.id)
    await checks.check_references(session, campaign, rows)
    await _check_allowance(session, tenant, settings, campaign)
    campaign.status = CampaignStatus.SCHEDULED
    await _plan(session, tenant, settings, campaign, rows, now or utcnow())
    return campaign


async def _check_allowance(
    session: AsyncSession, tenant: TenantId, settings: Settings, campaign: Campaign
) -> None:
    """Billing refuses (402, naming the limit) a campaign whose audience exceeds the month's
    remaining messages of the plan, or a brand whose sends are paused or read-only."""
    if not settings.stripe_configured:
        return  # the embedded default: one unlimited plan, nothing to count
    audience = await segments_service.audience_count(
        session,
        [UUID(i) for i in campaign.include_segment_ids],
        [UUID(i) for i in campaign.exclude_segment_ids],
    )
    await billing_service.check_messages_allowance(
        session, tenant, settings, channel=campaign.channel, count=audience
    )


# Pause, resume, cancel -------------------------------------------------------------------------


async def _running(session: AsyncSession, campaign: Campaign) -> list[CampaignOccurrence]:
    occurrences = await repository.active_occurrences(session, campaign.id, lock=True)
    return [o for o in occurrences if o.kind is OccurrenceKind.SCHEDULED]


async def pause_campaign(session: AsyncSession, tenant: TenantId, campaign_id: UUID) -> Campaign:
    """Stop releasing recipients and hold the messages not claimed yet (those a worker took
    already go on); a scheduled campaign does not start while paused."""
    campaign = await _locked(session, campaign_id)
    if campaign.status not in (CampaignStatus.SCHEDULED, CampaignStatus.SENDING):
        raise _refuse(campaign, "paused")
    campaign.paused_from = campaign.status
    campaign.status = CampaignStatus.PAUSED
    for occurrence in await _running(session, campaign):
        if occurrence.status is OccurrenceStatus.SENDING:
            occurrence.status = OccurrenceStatus.PAUSED
        await messaging.hold(
            session, SourceKind.CAMPAIGN, Plan.of(occurrence).source_keys(occurrence.id)
        )
    await session.flush()
    return campaign


async def resume_campaign(
    session: AsyncSession, tenant: TenantId, campaign_id: UUID, *, now: dt.datetime | None = None
) -> Campaign:
    """Go on where it stopped: held messages are claimed again, the release continues (no
    recipient gets a second message: the ledger's key is per occurrence, profile and
    channel); a start that fell due while paused happens now."""
    now = now or utcnow()
    campaign = await _locked(session, campaign_id)
    if campaign.status is not CampaignStatus.PAUSED:
        raise _refuse(campaign, "resumed (it is not paused)")
    running = await _running(session, campaign)
    for occurrence in running:
        if occurrence.status is OccurrenceStatus.PAUSED:
            occurrence.status = OccurrenceStatus.SENDING
        keys = Plan.of(occurrence).source_keys(occurrence.id)
        await messaging.lift_hold(session, tenant, SourceKind.CAMPAIGN, keys)
        await fanout.release_later(session, tenant, occurrence.id)
    campaign.status = CampaignStatus.SENDING if running else CampaignStatus.SCHEDULED
    campaign.paused_from = None
    due = campaign.next_run_at
    if (
        due is not None
        and due <= now
        and await repository.occurrence_at(session, campaign.id, due) is None
    ):
        await enqueue(
            session,
            planning.START_TASK,
            tenant=tenant,
            campaign_id=str(campaign.id),
            planned_at=due.isoformat(),
        )
    await session.flush()
    return campaign


async def cancel_campaign(
    session: AsyncSession, tenant: TenantId, campaign_id: UUID, *, now: dt.datetime | None = None
) -> Campaign:
    """Stop for good: recipients not released are cancelled, messages not claimed yet are
    held at once and withdrawn (refused `campaign-cancelled`) in the background; those on
    their way go on. Nothing more is planned."""
    now = now or utcnow()
    campaign = await _locked(session, campaign_id)
    if campaign.status in (CampaignStatus.SENT, CampaignStatus.CANCELLED):
        raise _refuse(campaign, "cancelled")
    await planning.drop_start(session, campaign)
    campaign.status = CampaignStatus.CANCELLED
    campaign.paused_from = None
    campaign.next_run_at = None
    campaign.cancelled_at = now
    for occurrence in await repository.active_occurrences(session, campaign.id, lock=True):
        occurrence.withdrawn += await repository.withdraw(session, occurrence.id, now)
        occurrence.status = OccurrenceStatus.CANCELLED
        occurrence.finished_at = now
        keys = Plan.of(occurrence).source_keys(occurrence.id)
        await messaging.hold(session, SourceKind.CAMPAIGN, keys)
        await enqueue(
            session, fanout.WITHDRAW_TASK, tenant=tenant, occurrence_id=str(occurrence.id)
        )
    await session.flush()
    return campaign


# Test sends ------------------------------------------------------------------------------------


async def send_test(
    session: AsyncSession,
    tenant: TenantId,
    settings: Settings,
    campaign_id: UUID,
    data: CampaignTestSendIn,
) -> CampaignOccurrence:
    """Send one variant at once to a seed list (an occurrence of its own, kind `test`, as a
    transactional message: no pressure, quiet hours or consent in the way of a proof)."""
    campaign = await _locked(session, campaign_id)
    if campaign.status is CampaignStatus.CANCELLED:
        raise _refuse(campaign, "tested")
    rows = await repository.variants_of(session, campaign.id)
    chosen = [r for r in rows if data.variant in (None, r.key)][:1]
    if not chosen:
        raise InvalidInput(
            f"no variant {data.variant!r}",
            errors=[{"field": "variant", "pointer": "/variant", "message": "no such variant"}],
        )
    seeds = list(dict.fromkeys(data.profile_ids))
    if data.segment_id is not None:
        segment = await segments_service.get_segment(session, data.segment_id)
        members = await segments_service.audience(session, [segment.id], limit=51)
        seeds += [p for p, _ in members if p not in seeds]
    if not seeds or len(seeds) > 50:
        raise InvalidInput(
            "name between 1 and 50 seed profiles",
            errors=[{"field": "profileIds", "pointer": "/profileIds", "message": "1 to 50"}],
        )
    found = await profiles_service.profiles_by_ids(session, seeds)
    unknown = [str(p) for p in seeds if p not in found]
    if unknown:
        raise InvalidInput(
            f"no profile {', '.join(unknown)}",
            errors=[{"field": "profileIds", "pointer": "/profileIds", "message": "unknown"}],
        )
    planned = await variants.resolve(session, tenant, campaign, chosen)
    planned = [msgspec.structs.replace(p, weight=100, send_delay_minutes=0) for p in planned]
    plan = fanout.plan_of(campaign, planned, brand_zone="UTC", local_wall=None)
    plan = msgspec.structs.replace(plan, priority=MessagePriority.TRANSACTIONAL, holdout_percent=0)
    return await fanout.start_test(session, tenant, campaign, plan, seeds)


# Signals ---------------------------------------------------------------------------------------


async def follow_merge(
    session: AsyncSession, tenant: TenantId, survivor_id: UUID, merged_id: UUID
) -> None:
    """A merged profile's recipient rows move to the survivor (where it is not one already)."""
    await repository.repoint_recipients(session, merged_id, survivor_id)


async def count_program_use(
    session: AsyncSession, program: Program, usage: programs_service.ProgramUsage
) -> None:
    """A program being deleted that campaigns name is archived instead (they keep it)."""
    usage.add("campaigns", await repository.count_of_program(session, program.id))


def connect(signals: Signals) -> None:
    from backend.profiles.service import PROFILE_MERGED

    signals.connect(PROFILE_MERGED, follow_merge)
    signals.connect(programs_service.PROGRAM_DELETING, count_program_use)
