"""What the REST API reads and writes for campaigns, their occurrences, recipients and
progress (GraphQL derives its types from these)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from uuid import UUID

import msgspec

from backend.campaigns.models import (
    AbTestMode,
    Campaign,
    CampaignOccurrence,
    CampaignStatus,
    CampaignVariant,
    OccurrenceKind,
    OccurrenceStatus,
    RecipientState,
    ScheduleKind,
    WinnerMetric,
)
from backend.core.schemas import Schema, whole
from backend.messaging.models import MessageChannel, MessagePriority

MAX_VARIANTS = 8
MAX_SEGMENTS = 50
MAX_SEEDS = 50

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Description = Annotated[str, msgspec.Meta(max_length=1000)]
VariantKey = Annotated[
    str, msgspec.Meta(pattern=whole(r"[a-z0-9][a-z0-9_-]{0,15}"), examples=["a", "short_subject"])
]
Topic = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Percent = Annotated[int, msgspec.Meta(ge=0, le=100)]
LocalTime = Annotated[
    str,
    msgspec.Meta(
        pattern=whole(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?"),
        description="A wall-clock date and time without offset: `2026-12-07T09:00`.",
        examples=["2026-12-07T09:00"],
    ),
]
Rule = Annotated[
    str,
    msgspec.Meta(
        min_length=6,
        max_length=500,
        description="An RFC 5545 RRULE (FREQ DAILY, WEEKLY, MONTHLY or YEARLY), without DTSTART.",
        examples=["FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0"],
    ),
]
ZoneName = Annotated[str, msgspec.Meta(min_length=1, max_length=64, examples=["Europe/Brussels"])]
EventName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class CampaignAudience(Schema, kw_only=True):
    """Members of any `include` segment (rule segments or static lists), minus members of any
    `exclude` segment; snapshotted when each occurrence starts."""

    include: Annotated[list[UUID], msgspec.Meta(min_length=1, max_length=MAX_SEGMENTS)]
    exclude: Annotated[list[UUID], msgspec.Meta(max_length=MAX_SEGMENTS)] = []


class CampaignFallback(Schema, kw_only=True):
    """Another channel and template for recipients the campaign's channel cannot reach."""

    channel: MessageChannel
    template_id: UUID


class CampaignSchedule(Schema, kw_only=True):
    """When it is sent: `now` (when scheduled), `at` (`sendAt`, with its offset), `local`
    (`localTime`, a wall-clock time reached in each recipient's time zone — the brand's for a
    profile without one) or `recurring` (`rrule` from `startsAt`, wall times in `timeZone`,
    default the brand's; each occurrence its own send, in each recipient's zone with
    `perRecipientTimeZone`)."""

    kind: ScheduleKind = ScheduleKind.NOW
    send_at: dt.datetime | None = None
    local_time: LocalTime | None = None
    rrule: Rule | None = None
    starts_at: dt.datetime | None = None
    time_zone: ZoneName | None = None
    per_recipient_time_zone: bool = False


class CampaignVariantIn(Schema, kw_only=True):
    """One arm of the test: its `weight` (percent of the split; the weights add up to 100) and
    what it changes — `templateId` (default the campaign's) and `templateVersion` (default the
    version published when the occurrence starts), an email `subject`, a sender identity, a
    send delay, or a `channel` (with a template of that channel)."""

    key: VariantKey
    name: Name | None = None
    weight: Percent = 100
    channel: MessageChannel | None = None
    template_id: UUID | None = None
    template_version: Annotated[int, msgspec.Meta(ge=1)] | None = None
    subject: Annotated[str, msgspec.Meta(min_length=1, max_length=998)] | None = None
    sender_identity_id: UUID | None = None
    send_delay_minutes: Annotated[int, msgspec.Meta(ge=0, le=7 * 24 * 60)] = 0


class CampaignTest(Schema, kw_only=True):
    """How the variants are sent: `split` (each recipient gets a variant by weight) or `winner`
    (`testPercent` of the audience is split first; after `decideAfterMinutes` the variant with
    the best `winnerMetric` — opens, clicks, or conversions: `goalEvent`, or an order when none,
    within `attributionHours` of the send — goes to the rest). `holdoutPercent` of the audience
    receives nothing and is recorded (the control group)."""

    mode: AbTestMode = AbTestMode.SPLIT
    test_percent: Annotated[int, msgspec.Meta(ge=1, le=100)] | None = None
    winner_metric: WinnerMetric | None = None
    goal_event: EventName | None = None
    attribution_hours: Annotated[int, msgspec.Meta(ge=1, le=90 * 24)] = 72
    decide_after_minutes: Annotated[int, msgspec.Meta(ge=1, le=30 * 24 * 60)] | None = None
    holdout_percent: Annotated[int, msgspec.Meta(ge=0, le=99)] = 0


Variants = Annotated[list[CampaignVariantIn], msgspec.Meta(max_length=MAX_VARIANTS)]
Throttle = Annotated[int, msgspec.Meta(ge=1, le=10_000_000, description="Messages per hour.")]
WindowHours = Annotated[int, msgspec.Meta(ge=1, le=7 * 24)]


class CampaignCreate(Schema, kw_only=True):
    """A campaign (a draft until scheduled). Without `variants`, one variant `a` sends the
    campaign's template to everyone."""

    name: Name
    description: Description | None = None
    program_id: UUID | None = None
    audience: CampaignAudience
    channel: MessageChannel
    template_id: UUID
    fallback: CampaignFallback | None = None
    topic: Topic | None = None
    priority: MessagePriority = MessagePriority.CAMPAIGN
    defer_over_pressure: bool = True
    schedule: CampaignSchedule = msgspec.field(default_factory=CampaignSchedule)
    throttle_per_hour: Throttle | None = None
    send_time_optimization: bool = False
    optimization_window_hours: WindowHours = 24
    variants: Variants = []
    test: CampaignTest = msgspec.field(default_factory=CampaignTest)


class CampaignUpdate(Schema):
    """Fields to change (a draft, or a scheduled campaign until it starts: then checked and
    planned again). `variants`, `audience`, `schedule` and `test` are replaced whole."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType | None = msgspec.UNSET
    program_id: UUID | msgspec.UnsetType | None = msgspec.UNSET
    audience: CampaignAudience | msgspec.UnsetType = msgspec.UNSET
    channel: MessageChannel | msgspec.UnsetType = msgspec.UNSET
    template_id: UUID | msgspec.UnsetType = msgspec.UNSET
    fallback: CampaignFallback | msgspec.UnsetType | None = msgspec.UNSET
    topic: Topic | msgspec.UnsetType | None = msgspec.UNSET
    priority: MessagePriority | msgspec.UnsetType = msgspec.UNSET
    defer_over_pressure: bool | msgspec.UnsetType = msgspec.UNSET
    schedule: CampaignSchedule | msgspec.UnsetType = msgspec.UNSET
    throttle_per_hour: Throttle | msgspec.UnsetType | None = msgspec.UNSET
    send_time_optimization: bool | msgspec.UnsetType = msgspec.UNSET
    optimization_window_hours: WindowHours | msgspec.UnsetType = msgspec.UNSET
    variants: Variants | msgspec.UnsetType = msgspec.UNSET
    test: CampaignTest | msgspec.UnsetType = msgspec.UNSET


class CampaignVariantOut(Schema, kw_only=True):
    key: str
    name: str | None
    weight: int
    channel: MessageChannel | None
    template_id: UUID | None
    template_version: int | None
    subject: str | None
    sender_identity_id: UUID | None
    send_delay_minutes: int


def _position(variant: CampaignVariant) -> int:
    return variant.position


class CampaignOut(Schema, kw_only=True):
    id: UUID
    name: str
    description: str | None
    program_id: UUID | None
    status: CampaignStatus
    audience: CampaignAudience
    channel: MessageChannel
    template_id: UUID
    fallback: CampaignFallback | None
    topic: str | None
    priority: MessagePriority
    defer_over_pressure: bool
    schedule: CampaignSchedule
    throttle_per_hour: int | None
    send_time_optimization: bool
    optimization_window_hours: int
    variants: list[CampaignVariantOut]
    test: CampaignTest
    scheduled_at: dt.datetime | None
    next_run_at: dt.datetime | None
    finished_at: dt.datetime | None
    cancelled_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of_campaign(cls, campaign: Campaign, variants: list[CampaignVariant]) -> CampaignOut:
        ordered: list[CampaignVariant] = sorted(variants, key=_position)
        fallback = None
        if campaign.fallback_channel is not None and campaign.fallback_template_id is not None:
            fallback = CampaignFallback(
                channel=campaign.fallback_channel, template_id=campaign.fallback_template_id
            )
        return cls(
            id=campaign.id,
            name=campaign.name,
            description=campaign.description,
            program_id=campaign.program_id,
            status=campaign.status,
            audience=CampaignAudience(
                include=[UUID(i) for i in campaign.include_segment_ids],
                exclude=[UUID(i) for i in campaign.exclude_segment_ids],
            ),
            channel=campaign.channel,
            template_id=campaign.template_id,
            fallback=fallback,
            topic=campaign.topic,
            priority=campaign.priority,
            defer_over_pressure=campaign.defer_over_pressure,
            schedule=CampaignSchedule(
                kind=campaign.schedule_kind,
                send_at=campaign.send_at,
                local_time=campaign.local_time,
                rrule=campaign.rrule,
                starts_at=campaign.starts_at,
                time_zone=campaign.time_zone,
                per_recipient_time_zone=campaign.per_recipient_time_zone,
            ),
            throttle_per_hour=campaign.throttle_per_hour,
            send_time_optimization=campaign.send_time_optimization,
            optimization_window_hours=campaign.optimization_window_hours,
            variants=CampaignVariantOut.many(ordered),
            test=CampaignTest(
                mode=campaign.test_mode,
                test_percent=campaign.test_percent,
                winner_metric=campaign.winner_metric,
                goal_event=campaign.goal_event,
                attribution_hours=campaign.attribution_hours,
                decide_after_minutes=campaign.decide_after_minutes,
                holdout_percent=campaign.holdout_percent,
            ),
            scheduled_at=campaign.scheduled_at,
            next_run_at=campaign.next_run_at,
            finished_at=campaign.finished_at,
            cancelled_at=campaign.cancelled_at,
            created_at=campaign.created_at,
            updated_at=campaign.updated_at,
        )


class CampaignPage(Schema):
    items: list[CampaignOut]
    next_cursor: str | None


class CampaignTestSendIn(Schema, kw_only=True):
    """Send one variant (default the first) at once to a seed list: profiles by id and/or the
    members of a segment (at most 50 in all). Seeds get it as a transactional message: no
    pressure cap, quiet hours or consent stands in the way of a proof."""

    profile_ids: Annotated[list[UUID], msgspec.Meta(max_length=MAX_SEEDS)] = []
    segment_id: UUID | None = None
    variant: VariantKey | None = None


class CampaignOccurrenceOut(Schema, kw_only=True):
    """One send of the campaign (a test send is one too) and its audience counters."""

    id: UUID
    campaign_id: UUID
    kind: OccurrenceKind
    status: OccurrenceStatus
    planned_at: dt.datetime
    started_at: dt.datetime
    prepared_at: dt.datetime | None
    finished_at: dt.datetime | None
    decide_at: dt.datetime | None
    winner_variant: str | None
    failure: str | None
    targeted: int
    excluded: int
    holdout: int
    released: int
    withdrawn: int

    @classmethod
    def of_occurrence(cls, occurrence: CampaignOccurrence) -> CampaignOccurrenceOut:
        return cls.of(occurrence)


class CampaignOccurrencePage(Schema):
    items: list[CampaignOccurrenceOut]
    next_cursor: str | None


class CampaignRecipientOut(Schema, kw_only=True):
    """One profile of an occurrence's audience: its variant and what became of it."""

    profile_id: UUID
    variant: str | None
    state: RecipientState
    reason: str | None
    due_at: dt.datetime | None
    released_at: dt.datetime | None
    message_id: UUID | None


class CampaignRecipientPage(Schema):
    items: list[CampaignRecipientOut]
    next_cursor: str | None


class CampaignVariantProgress(Schema, kw_only=True):
    """What one variant's messages became (from the ledger), and its `score` (the rate of its
    test cell's metric: opens, clicks or conversions per message sent) once a winner was
    picked."""

    key: str
    messages: int
    queued: int
    deferred: int
    sent: int
    failed: int
    refused: int
    opened: int
    clicked: int
    score: float | None = None


class CampaignProgress(Schema, kw_only=True):
    """Where the campaign's latest occurrence stands (null counters before it starts): the
    audience (`targeted`), who was left out and why (`excluded`: excluded segments, and the
    send gate's refusals — no consent, no address, pressure…), the `holdout`, recipients still
    `waiting` (their time, the throttle, the winner), messages `queued` or on their way,
    `deferred` (pressure, quiet hours, a provider's retry), `sent` (handed to the provider,
    delivered or engaged since), `failed`, `cancelled`, and engagement."""

    campaign_id: UUID
    campaign_status: CampaignStatus
    occurrence_id: UUID | None = None
    occurrence_status: OccurrenceStatus | None = None
    planned_at: dt.datetime | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    targeted: int = 0
    excluded: dict[str, int] = {}
    holdout: int = 0
    waiting: int = 0
    released: int = 0
    queued: int = 0
    deferred: int = 0
    sent: int = 0
    failed: int = 0
    cancelled: int = 0
    fallbacks: int = 0
    opened: int = 0
    clicked: int = 0
    winner_variant: str | None = None
    decide_at: dt.datetime | None = None
    variants: list[CampaignVariantProgress] = []
