"""What the REST API reads and writes for RFM settings, runs and scores."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated
from uuid import UUID

import msgspec

from backend.core.schemas import Schema
from backend.rfm.models import (
    DEFAULT_ENGAGEMENT_EVENTS,
    DEFAULT_WINDOW_DAYS,
    RfmDirection,
    RfmKind,
    RfmMethod,
    RfmRunStatus,
    RfmSchedule,
)

if TYPE_CHECKING:
    from backend.rfm.service import ProfileRfm, ProfileScore

CutPoints = Annotated[list[float], msgspec.Meta(examples=[[7, 30, 90, 180]])]


class RfmAxisThresholds(Schema):
    """Four ascending cut points per axis: F and M score 1 + the number of cut points strictly
    below the value, R 1 + the number strictly above it (fewer days since is better)."""

    recency: CutPoints
    frequency: CutPoints
    monetary: CutPoints


class RfmThresholds(Schema):
    """Fixed cut points per kind; a kind without them uses the quintiles of its distribution."""

    purchase: RfmAxisThresholds | None = None
    engagement: RfmAxisThresholds | None = None


class RfmSettingsIn(Schema):
    """The brand's RFM settings, replaced as a whole (a field left out takes its default)."""

    purchase_window_days: Annotated[int, msgspec.Meta(examples=[365])] = DEFAULT_WINDOW_DAYS
    engagement_window_days: Annotated[int, msgspec.Meta(examples=[365])] = DEFAULT_WINDOW_DAYS
    engagement_events: list[str] = msgspec.field(
        default_factory=lambda: list(DEFAULT_ENGAGEMENT_EVENTS)
    )
    schedule: RfmSchedule = RfmSchedule.MONTHLY
    thresholds: RfmThresholds | None = None


class RfmSettingsOut(Schema):
    """The brand's RFM settings (the defaults until replaced)."""

    purchase_window_days: int
    engagement_window_days: int
    engagement_events: list[str]
    schedule: RfmSchedule
    thresholds: RfmThresholds | None


class RfmRunIn(Schema):
    """A run of one kind at ``asOf`` (default now; not in the future beyond 5 minutes)."""

    kind: RfmKind = RfmKind.PURCHASE
    as_of: dt.datetime | None = None


class RfmCutPoints(Schema):
    recency: list[float]
    frequency: list[float]
    monetary: list[float]


class RfmRunOut(Schema):
    """A run: its status, the cut points it used, how many profiles it scored and how many
    changed named segment."""

    id: UUID
    kind: RfmKind
    status: RfmRunStatus
    as_of: dt.datetime
    window_days: int
    method: RfmMethod
    cut_points: RfmCutPoints | None
    scored_count: int
    changed_count: int
    error: str | None
    scheduled_for: dt.datetime | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    created_at: dt.datetime


class RfmRunPage(Schema):
    items: list[RfmRunOut]
    next_cursor: str | None


class RfmScoreOut(Schema):
    """A profile's score in one run; ``previousSegment`` and ``direction`` compare with the
    run of the same kind before it (null: not scored then)."""

    profile_id: UUID
    run_id: UUID
    recency_days: int
    frequency: int
    monetary: Decimal
    r: int
    f: int
    m: int
    segment: str
    previous_segment: str | None
    direction: RfmDirection | None


class RfmScorePage(Schema):
    items: list[RfmScoreOut]
    next_cursor: str | None


class ProfileRfmScoreOut(RfmScoreOut, kw_only=True):
    """A profile's score in one run, with the run's kind and date."""

    kind: RfmKind
    as_of: dt.datetime

    @classmethod
    def of_score(cls, item: ProfileScore) -> ProfileRfmScoreOut:
        score = RfmScoreOut.of(item.score)
        return cls(
            **{name: getattr(score, name) for name in RfmScoreOut.__struct_fields__},
            kind=item.run.kind,
            as_of=item.run.as_of,
        )


class ProfileRfmOut(Schema):
    """A profile's current score of each kind (null: not in the current run) and its scores in
    every run, newest first."""

    purchase: ProfileRfmScoreOut | None
    engagement: ProfileRfmScoreOut | None
    history: list[ProfileRfmScoreOut]

    @classmethod
    def of_profile(cls, found: ProfileRfm) -> ProfileRfmOut:
        current = {kind: ProfileRfmScoreOut.of_score(item) for kind, item in found.current.items()}
        return cls(
            purchase=current.get(RfmKind.PURCHASE),
            engagement=current.get(RfmKind.ENGAGEMENT),
            history=[ProfileRfmScoreOut.of_score(item) for item in found.history],
        )
