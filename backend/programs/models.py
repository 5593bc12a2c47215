"""Programs: a brand's marketing objectives, each the frame of the campaigns and scenarios that
serve it (those carry the program's id; nothing of theirs is stored here).

A program that something still names is archived instead of deleted (``archived_at``): hidden
from lists and from the coverage map, readable by id, changed no more.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any
from uuid import UUID

from sqlalchemy import ForeignKey, ForeignKeyConstraint, Index, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import Base, JSONType, TimestampMixin, string_enum
from backend.core.ids import new_id
from backend.core.tenancy import TenantMixin
from backend.programs.vocabulary import LifecycleStage

OBJECTIVE_MAX = 2000


class ProgramStatus(StrEnum):
    DRAFT = "draft"  # being prepared: counts nowhere
    ACTIVE = "active"  # running: covers its stage and moments within its dates
    PAUSED = "paused"  # stopped for a while; may be activated again
    ENDED = "ended"  # over for good


# The status changes a program allows: draft → active ⇄ paused, active or paused → ended.
TRANSITIONS: dict[ProgramStatus, frozenset[ProgramStatus]] = {
    ProgramStatus.DRAFT: frozenset({ProgramStatus.ACTIVE}),
    ProgramStatus.ACTIVE: frozenset({ProgramStatus.PAUSED, ProgramStatus.ENDED}),
    ProgramStatus.PAUSED: frozenset({ProgramStatus.ACTIVE, ProgramStatus.ENDED}),
    ProgramStatus.ENDED: frozenset(),
}


class Program(TenantMixin, TimestampMixin, Base):
    """One marketing objective of the brand, at one lifecycle stage."""

    __tablename__ = "programs"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        # The coverage map reads the active programs; lists filter by status.
        Index("ix_programs_tenant_id_status", "tenant_id", "status"),
        # A segment's deletion looks for the programs it is the audience of.
        Index("ix_programs_tenant_id_audience_segment_id", "tenant_id", "audience_segment_id"),
        # No action on delete: the segments domain asks first (SEGMENT_DELETING), this is the
        # second wall against a race.
        ForeignKeyConstraint(
            ["tenant_id", "audience_segment_id"], ["segments.tenant_id", "segments.id"]
        ),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    objective: Mapped[str] = mapped_column(String(OBJECTIVE_MAX))
    stage: Mapped[LifecycleStage] = mapped_column(string_enum(LifecycleStage, "lifecycle_stage"))
    # [{name, metric, target, unit}], validated on the way in (schemas.ProgramKpiIn).
    kpis: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    # A user who may reach the brand when set (checked then); a deleted user leaves it empty.
    owner_id: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    start_date: Mapped[dt.date | None]
    end_date: Mapped[dt.date | None]
    status: Mapped[ProgramStatus] = mapped_column(
        string_enum(ProgramStatus, "program_status"), default=ProgramStatus.DRAFT
    )
    status_changed_at: Mapped[dt.datetime | None]
    # Slugs of backend.programs.vocabulary.MomentOfTruth.
    moments_of_truth: Mapped[list[str]] = mapped_column(JSONType, default=list)
    template_key: Mapped[str | None] = mapped_column(String(64))
    audience_segment_id: Mapped[UUID | None]
    archived_at: Mapped[dt.datetime | None]
