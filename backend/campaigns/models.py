"""Campaigns: a communication to a target at a time, its variants (A/B/n), each time it is sent
(an occurrence: one for a one-shot campaign, one per date of a recurring one, one per test send)
and each occurrence's recipients — the audience snapshotted when the occurrence starts, every
profile with what became of it (holdout, excluded, waiting for its time or the winner, released
as a message of the ledger).

Recipients are the campaign's own queue: a message is recorded in the ledger only when its
recipient is released (its time has come, the throttle allows it, the campaign is not paused),
so the ledger only ever holds due work and pausing holds a few messages, not the audience.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any
from uuid import UUID

from sqlalchemy import ForeignKeyConstraint, Index, PrimaryKeyConstraint, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import Base, JSONType, TimestampMixin, string_enum
from backend.core.ids import new_id
from backend.core.tenancy import TenantMixin
from backend.messaging.models import MessageChannel, MessagePriority


class CampaignStatus(StrEnum):
    DRAFT = "draft"  # being written: nothing planned
    SCHEDULED = "scheduled"  # its next occurrence is planned (editable until it starts)
    SENDING = "sending"  # an occurrence is under way (pause or cancel only)
    PAUSED = "paused"  # nothing released nor claimed until resumed
    SENT = "sent"  # every occurrence done
    CANCELLED = "cancelled"  # stopped for good: what was not sent never will be


class ScheduleKind(StrEnum):
    NOW = "now"  # as soon as it is scheduled
    AT = "at"  # at one moment
    LOCAL = "local"  # at one wall-clock time in each recipient's time zone
    RECURRING = "recurring"  # at each date of an RRULE, each occurrence its own send


class AbTestMode(StrEnum):
    SPLIT = "split"  # every recipient gets a variant by weight (one variant: everyone)
    WINNER = "winner"  # a test cell first; after a time the winner goes to the rest


class WinnerMetric(StrEnum):
    OPENS = "opens"
    CLICKS = "clicks"
    CONVERSIONS = "conversions"  # a goal event (or an order) within the attribution window


class OccurrenceKind(StrEnum):
    SCHEDULED = "scheduled"
    TEST = "test"  # a test send to a seed list


class OccurrenceStatus(StrEnum):
    PREPARING = "preparing"  # the audience is being snapshotted
    SENDING = "sending"
    PAUSED = "paused"
    SENT = "sent"
    CANCELLED = "cancelled"
    FAILED = "failed"  # could not start: its content is gone (``failure`` says why)


class RecipientState(StrEnum):
    WAITING = "waiting"  # to be released at ``due_at`` (at once when none)
    AWAITING_WINNER = "awaiting_winner"  # outside the test cell: gets the winner
    RELEASED = "released"  # its message is in the ledger (``message_id``)
    HOLDOUT = "holdout"  # the control group: receives nothing, on purpose
    EXCLUDED = "excluded"  # in an excluded segment (``reason``)
    CANCELLED = "cancelled"  # the campaign was cancelled before its release


def _of_campaign() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["tenant_id", "campaign_id"], ["campaigns.tenant_id", "campaigns.id"], ondelete="CASCADE"
    )


class Campaign(TenantMixin, TimestampMixin, Base):
    """One campaign: audience, channel, content (per variant), consent topic, priority,
    schedule, throttle, send-time optimisation and test settings."""

    __tablename__ = "campaigns"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        Index("ix_campaigns_tenant_id_status", "tenant_id", "status"),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(1000))
    # The program it serves (programs are another domain: checked there, no key here).
    program_id: Mapped[UUID | None]
    status: Mapped[CampaignStatus] = mapped_column(string_enum(CampaignStatus, "campaign_status"))
    paused_from: Mapped[CampaignStatus | None] = mapped_column(
        string_enum(CampaignStatus, "campaign_paused_from")
    )
    # Audience: members of any included segment (rule or static), minus the excluded ones'.
    include_segment_ids: Mapped[list[str]] = mapped_column(JSONType, default=list)
    exclude_segment_ids: Mapped[list[str]] = mapped_column(JSONType, default=list)
    channel: Mapped[MessageChannel] = mapped_column(string_enum(MessageChannel, "campaign_channel"))
    template_id: Mapped[UUID]
    fallback_channel: Mapped[MessageChannel | None] = mapped_column(
        string_enum(MessageChannel, "campaign_fallback_channel")
    )
    fallback_template_id: Mapped[UUID | None]
    topic: Mapped[str | None] = mapped_column(String(64))  # consent topic
    priority: Mapped[MessagePriority] = mapped_column(
        string_enum(MessagePriority, "campaign_priority")
    )
    # Over the pressure caps: deferred to the next free slot (True) or skipped (False).
    defer_over_pressure: Mapped[bool] = mapped_column(default=True)
    schedule_kind: Mapped[ScheduleKind] = mapped_column(
        string_enum(ScheduleKind, "campaign_schedule_kind")
    )
    send_at: Mapped[dt.datetime | None]
    local_time: Mapped[str | None] = mapped_column(String(19))  # "YYYY-MM-DDTHH:MM[:SS]"
    rrule: Mapped[str | None] = mapped_column(String(500))
    starts_at: Mapped[dt.datetime | None]  # the rule's first date (DTSTART)
    time_zone: Mapped[str | None] = mapped_column(String(64))  # the rule's (brand's by default)
    per_recipient_time_zone: Mapped[bool] = mapped_column(default=False)
    throttle_per_hour: Mapped[int | None]
    send_time_optimization: Mapped[bool] = mapped_column(default=False)
    optimization_window_hours: Mapped[int] = mapped_column(default=24)
    test_mode: Mapped[AbTestMode] = mapped_column(string_enum(AbTestMode, "campaign_test_mode"))
    test_percent: Mapped[int | None]
    winner_metric: Mapped[WinnerMetric | None] = mapped_column(
        string_enum(WinnerMetric, "campaign_winner_metric")
    )
    goal_event: Mapped[str | None] = mapped_column(String(100))  # None: an order converts
    attribution_hours: Mapped[int] = mapped_column(default=72)
    decide_after_minutes: Mapped[int | None]
    holdout_percent: Mapped[int] = mapped_column(default=0)
    scheduled_at: Mapped[dt.datetime | None]
    next_run_at: Mapped[dt.datetime | None]  # the next occurrence's planned moment
    finished_at: Mapped[dt.datetime | None]
    cancelled_at: Mapped[dt.datetime | None]


class CampaignVariant(TenantMixin, TimestampMixin, Base):
    """One arm of a test (every campaign has at least one): its share and what differs —
    content (a template version), subject, sender, send time or channel."""

    __tablename__ = "campaign_variants"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "campaign_id", "key"), _of_campaign())

    campaign_id: Mapped[UUID] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(16), primary_key=True)
    position: Mapped[int]
    name: Mapped[str | None] = mapped_column(String(200))
    weight: Mapped[int]  # percent of the split (the variants' weights add up to 100)
    channel: Mapped[MessageChannel | None] = mapped_column(
        string_enum(MessageChannel, "campaign_variant_channel")
    )
    template_id: Mapped[UUID | None]  # None: the campaign's
    template_version: Mapped[int | None]  # None: the version published when scheduled
    subject: Mapped[str | None] = mapped_column(String(998))  # an email subject to test
    sender_identity_id: Mapped[UUID | None]
    send_delay_minutes: Mapped[int] = mapped_column(default=0)
    # Frozen when scheduled: the exact version sent (a subject variant's own version).
    resolved_template_id: Mapped[UUID | None]
    resolved_version_id: Mapped[UUID | None]
    resolved_for: Mapped[str | None] = mapped_column(String(64))  # what it was resolved from


class CampaignOccurrence(TenantMixin, TimestampMixin, Base):
    """One send of a campaign: its audience snapshot and how far the fan-out went. Counters are
    kept by the statements that change them (from the rows each really wrote)."""

    __tablename__ = "campaign_occurrences"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        # One occurrence per planned moment: a scheduler restart cannot start one twice.
        UniqueConstraint("tenant_id", "campaign_id", "planned_at"),
        Index("ix_campaign_occurrences_tenant_id_status", "tenant_id", "status"),
        _of_campaign(),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    campaign_id: Mapped[UUID]
    kind: Mapped[OccurrenceKind] = mapped_column(string_enum(OccurrenceKind, "occurrence_kind"))
    planned_at: Mapped[dt.datetime]
    status: Mapped[OccurrenceStatus] = mapped_column(
        string_enum(OccurrenceStatus, "occurrence_status")
    )
    # What it sends, frozen when it starts (variants, topic, priority, fallback, timing).
    config: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    snapshot_after: Mapped[UUID | None]  # the last profile id the snapshot walked
    started_at: Mapped[dt.datetime]
    prepared_at: Mapped[dt.datetime | None]  # the snapshot was complete
    finished_at: Mapped[dt.datetime | None]
    throttle_ready_at: Mapped[dt.datetime | None]  # the throttle releases no more before
    decide_at: Mapped[dt.datetime | None]
    winner_variant: Mapped[str | None] = mapped_column(String(16))
    winner_scores: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    failure: Mapped[str | None] = mapped_column(String(1000))
    targeted: Mapped[int] = mapped_column(default=0)
    excluded: Mapped[int] = mapped_column(default=0)
    holdout: Mapped[int] = mapped_column(default=0)
    released: Mapped[int] = mapped_column(default=0)
    withdrawn: Mapped[int] = mapped_column(default=0)  # recipients cancelled before release

    @property
    def occurrence_id(self) -> UUID:
        return self.id


class CampaignRecipient(TenantMixin, TimestampMixin, Base):
    """One profile of an occurrence's audience and what became of it (the holdout is recorded
    here too, so the incremental effect can be measured against it)."""

    __tablename__ = "campaign_recipients"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "occurrence_id", "profile_id"),
        # The release: an occurrence's waiting recipients in due order.
        Index(
            "ix_campaign_recipients_tenant_id_occurrence_id_state_due_at",
            "tenant_id",
            "occurrence_id",
            "state",
            "due_at",
        ),
        Index("ix_campaign_recipients_tenant_id_profile_id", "tenant_id", "profile_id"),
        ForeignKeyConstraint(
            ["tenant_id", "occurrence_id"],
            ["campaign_occurrences.tenant_id", "campaign_occurrences.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["tenant_id", "profile_id"], ["profiles.tenant_id", "profiles.id"], ondelete="CASCADE"
        ),
    )

    occurrence_id: Mapped[UUID] = mapped_column(primary_key=True)
    profile_id: Mapped[UUID] = mapped_column(primary_key=True)
    variant: Mapped[str | None] = mapped_column(String(16))
    state: Mapped[RecipientState] = mapped_column(string_enum(RecipientState, "recipient_state"))
    reason: Mapped[str | None] = mapped_column(String(64))
    due_at: Mapped[dt.datetime | None]
    released_at: Mapped[dt.datetime | None]
    message_id: Mapped[UUID | None]
