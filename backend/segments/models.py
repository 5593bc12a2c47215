"""Segments: named targets, either rules compiled to one SQL statement or static lists; their
materialised members, every entry and exit (transition), and the size of each evaluation.

Rows that belong to a profile reference it by ``(tenant_id, profile_id)`` with ON DELETE CASCADE,
so erasing a person removes their memberships and transitions; merges re-point them (hooks).
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

DEFAULT_REFRESH_MINUTES = 1440


class SegmentKind(StrEnum):
    RULE = "rule"  # members are computed from `definition`
    STATIC = "static"  # members are uploaded


class TransitionKind(StrEnum):
    ENTERED = "entered"
    EXITED = "exited"


class EvaluationCause(StrEnum):
    MANUAL = "manual"  # asked for through the API
    SCHEDULE = "schedule"  # the segment's refresh interval
    INCREMENTAL = "incremental"  # a write to some profiles
    UPLOAD = "upload"  # a static list uploaded
    IMPORT = "import"  # an import finished
    RFM = "rfm"  # an RFM run the rules read finished


def _of_profile() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["tenant_id", "profile_id"], ["profiles.tenant_id", "profiles.id"], ondelete="CASCADE"
    )


def _of_segment() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["tenant_id", "segment_id"], ["segments.tenant_id", "segments.id"], ondelete="CASCADE"
    )


class Segment(TenantMixin, TimestampMixin, Base):
    """A named target of the brand."""

    __tablename__ = "segments"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "key"),
        Index("ix_segments_tenant_id_next_refresh_at", "tenant_id", "next_refresh_at"),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(1000))
    kind: Mapped[SegmentKind] = mapped_column(string_enum(SegmentKind, "segment_kind"))
    # The rule tree as given (validated on save); None for a static segment.
    definition: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    # Minutes between scheduled evaluations; None: never on a schedule.
    refresh_every_minutes: Mapped[int | None]
    next_refresh_at: Mapped[dt.datetime | None]
    member_count: Mapped[int] = mapped_column(default=0)
    last_evaluated_at: Mapped[dt.datetime | None]
    version: Mapped[int] = mapped_column(default=1)  # bumped by every change of definition


class SegmentMember(TenantMixin, TimestampMixin, Base):
    """A profile currently in a segment, since ``entered_at``."""

    __tablename__ = "segment_members"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "segment_id", "profile_id"),
        Index("ix_segment_members_tenant_id_profile_id", "tenant_id", "profile_id"),
        _of_segment(),
        _of_profile(),
    )

    segment_id: Mapped[UUID] = mapped_column(primary_key=True)
    profile_id: Mapped[UUID] = mapped_column(primary_key=True)
    entered_at: Mapped[dt.datetime]


class SegmentTransition(TenantMixin, TimestampMixin, Base):
    """A profile entering or leaving a segment, recorded once per change by the evaluation that
    saw it. Ids are time-ordered (the evaluation's id with a per-row counter)."""

    __tablename__ = "segment_transitions"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        Index("ix_segment_transitions_tenant_id_segment_id_id", "tenant_id", "segment_id", "id"),
        Index("ix_segment_transitions_tenant_id_profile_id_id", "tenant_id", "profile_id", "id"),
        Index(
            "ix_segment_transitions_tenant_id_evaluation_id_id", "tenant_id", "evaluation_id", "id"
        ),
        _of_segment(),
        _of_profile(),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True)
    segment_id: Mapped[UUID]
    profile_id: Mapped[UUID]
    kind: Mapped[TransitionKind] = mapped_column(string_enum(TransitionKind, "transition_kind"))
    occurred_at: Mapped[dt.datetime]
    evaluation_id: Mapped[UUID]


class SegmentSize(TenantMixin, TimestampMixin, Base):
    """One full evaluation of a segment: its size then, and how many entered and left."""

    __tablename__ = "segment_sizes"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        Index(
            "ix_segment_sizes_tenant_id_segment_id_measured_at",
            "tenant_id",
            "segment_id",
            "measured_at",
        ),
        _of_segment(),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True)  # the evaluation's id
    segment_id: Mapped[UUID]
    measured_at: Mapped[dt.datetime]
    size: Mapped[int]
    entered: Mapped[int]
    exited: Mapped[int]
    cause: Mapped[EvaluationCause] = mapped_column(string_enum(EvaluationCause, "evaluation_cause"))

    @property
    def evaluation_id(self) -> UUID:
        return self.id
