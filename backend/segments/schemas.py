"""What the REST API reads and writes for segments, their members, transitions and sizes."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import msgspec

from backend.core.schemas import Schema, whole
from backend.segments.models import (
    EvaluationCause,
    Segment,
    SegmentKind,
    SegmentMember,
    SegmentTransition,
    TransitionKind,
)

if TYPE_CHECKING:
    from backend.segments.membership import UploadResult

Key = Annotated[
    str, msgspec.Meta(pattern=whole(r"[a-z][a-z0-9_]{0,63}"), max_length=64, examples=["gold_fr"])
]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Description = Annotated[str, msgspec.Meta(max_length=1000)]
RefreshMinutes = Annotated[int, msgspec.Meta(ge=5, le=60 * 24 * 366)]
DEFINITION_EXAMPLE = {
    "and": [
        {"attribute": "tier", "op": "eq", "value": "gold"},
        {"orders": {"aggregate": "count", "windowDays": 90}, "op": "gte", "value": 3},
        {"contactable": "email"},
    ]
}
Definition = Annotated[dict[str, Any], msgspec.Meta(examples=[DEFINITION_EXAMPLE])]


class SegmentCreate(Schema, kw_only=True):
    """A segment: a rule `definition` (kind `rule`, see the README's rule language) or an
    uploaded list (kind `static`, no definition). `refreshEveryMinutes` (default 1440, null: off)
    re-evaluates a rule segment on a schedule."""

    key: Key
    name: Name
    kind: SegmentKind = SegmentKind.RULE
    description: Description | None = None
    definition: Definition | None = None
    refresh_every_minutes: RefreshMinutes | None = 1440


class SegmentUpdate(Schema):
    """Fields to change; the key and kind are fixed. A new definition is validated again and
    the segment re-evaluated."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType | None = msgspec.UNSET
    definition: Definition | msgspec.UnsetType = msgspec.UNSET
    refresh_every_minutes: RefreshMinutes | msgspec.UnsetType | None = msgspec.UNSET


class SegmentOut(Schema):
    id: UUID
    key: str
    name: str
    description: str | None
    kind: SegmentKind
    definition: dict[str, Any] | None
    refresh_every_minutes: int | None
    next_refresh_at: dt.datetime | None
    member_count: int
    last_evaluated_at: dt.datetime | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class SegmentPage(Schema):
    items: list[SegmentOut]
    next_cursor: str | None


class PreviewIn(Schema):
    """An unsaved definition to count."""

    definition: Definition


class ProfileSummary(Schema):
    id: UUID
    email: str | None
    phone: str | None
    first_name: str | None
    last_name: str | None
    country: str | None


class PreviewOut(Schema):
    """How many profiles the definition holds for now, and the first of them (at most 20)."""

    count: int
    sample: list[ProfileSummary]


class EvaluationQueued(Schema):
    """The evaluation was queued: its sizes row (`GET …/sizes`) carries this id once done."""

    evaluation_id: UUID
    segment_id: UUID


class SegmentMemberOut(Schema):
    profile_id: UUID
    entered_at: dt.datetime


class SegmentMemberPage(Schema):
    items: list[SegmentMemberOut]
    next_cursor: str | None


class ExternalKey(Schema):
    source: Annotated[str, msgspec.Meta(min_length=1, max_length=70, examples=["erp"])]
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


MaxList = msgspec.Meta(max_length=100_000)


class MembersUpload(Schema):
    """A static segment's list: profile ids and/or identity keys (email, phone, external ids)."""

    profile_ids: Annotated[list[UUID], MaxList] = []
    emails: Annotated[list[str], MaxList] = []
    phones: Annotated[list[str], MaxList] = []
    external_ids: Annotated[list[ExternalKey], MaxList] = []


class UploadOut(Schema):
    """What an upload changed, and the ids and keys that named no profile."""

    evaluation_id: UUID
    member_count: int
    entered: int
    exited: int
    unknown_profile_ids: list[UUID]
    unknown_keys: list[str]

    @classmethod
    def of_upload(cls, result: UploadResult, segment: Segment) -> UploadOut:
        return cls(
            evaluation_id=result.outcome.evaluation_id,
            member_count=segment.member_count,
            entered=result.outcome.entered,
            exited=result.outcome.exited,
            unknown_profile_ids=result.unknown_profile_ids,
            unknown_keys=result.unknown_keys,
        )


class TransitionOut(Schema):
    id: UUID
    segment_id: UUID
    profile_id: UUID
    kind: TransitionKind
    occurred_at: dt.datetime
    evaluation_id: UUID


class TransitionPage(Schema):
    items: list[TransitionOut]
    next_cursor: str | None


class SizeOut(Schema):
    evaluation_id: UUID
    measured_at: dt.datetime
    size: int
    entered: int
    exited: int
    cause: EvaluationCause


class SizePage(Schema):
    items: list[SizeOut]
    next_cursor: str | None


class MembershipOut(Schema):
    segment_id: UUID
    segment_key: str
    segment_name: str
    entered_at: dt.datetime


class ProfileSegmentsOut(Schema):
    """A profile's current segments, and its latest transitions (newest last)."""

    memberships: list[MembershipOut]
    transitions: list[TransitionOut]
    next_cursor: str | None

    @classmethod
    def of_profile(
        cls,
        memberships: list[tuple[SegmentMember, Segment]],
        transitions: list[SegmentTransition],
        next_cursor: str | None,
    ) -> ProfileSegmentsOut:
        return cls(
            memberships=[MembershipOut(s.id, s.key, s.name, m.entered_at) for m, s in memberships],
            transitions=TransitionOut.many(transitions),
            next_cursor=next_cursor,
        )
