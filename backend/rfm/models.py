"""RFM: the brand's RFM settings, every run (kept), and the scores each run gave.

A run scores one *kind* (purchase RFM from orders, engagement RFM from engagement events) at a
reference time ``as_of`` over a window of days. The *current* scores of a kind are those of the
brand's latest succeeded run of that kind (by ``finished_at``); segments read them through
:func:`backend.rfm.service.current_scores_query`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Index,
    Numeric,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import Base, JSONType, TimestampMixin, string_enum
from backend.core.ids import new_id
from backend.core.tenancy import TenantMixin

DEFAULT_WINDOW_DAYS = 365
DEFAULT_ENGAGEMENT_EVENTS = ("email_opened", "email_clicked", "sms_clicked", "push_opened")


class RfmKind(StrEnum):
    PURCHASE = "purchase"  # from orders
    ENGAGEMENT = "engagement"  # from engagement events (opens, clicks)


class RfmSchedule(StrEnum):
    MONTHLY = "monthly"
    WEEKLY = "weekly"
    DAILY = "daily"
    OFF = "off"


class RfmRunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class RfmMethod(StrEnum):
    QUINTILES = "quintiles"  # cut points from the brand's distribution (percentile_cont)
    THRESHOLDS = "thresholds"  # the brand's fixed cut points


class RfmDirection(StrEnum):
    UP = "up"
    DOWN = "down"
    SAME = "same"


class RfmSettings(TenantMixin, TimestampMixin, Base):
    """One row per brand; absent means the defaults."""

    __tablename__ = "rfm_settings"
    __table_args__ = (PrimaryKeyConstraint("tenant_id"),)

    purchase_window_days: Mapped[int] = mapped_column(default=DEFAULT_WINDOW_DAYS)
    engagement_window_days: Mapped[int] = mapped_column(default=DEFAULT_WINDOW_DAYS)
    engagement_events: Mapped[list[str]] = mapped_column(
        JSONType, default=lambda: list(DEFAULT_ENGAGEMENT_EVENTS)
    )
    schedule: Mapped[RfmSchedule] = mapped_column(
        string_enum(RfmSchedule, "rfm_schedule"), default=RfmSchedule.MONTHLY
    )
    # Fixed cut points instead of quintiles, per kind and axis:
    # {"purchase": {"recency": [4 numbers], "frequency": [...], "monetary": [...]}, …}
    thresholds: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)


class RfmRun(TenantMixin, TimestampMixin, Base):
    """One computation of one kind of RFM at ``as_of``; every run is kept."""

    __tablename__ = "rfm_runs"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        Index("ix_rfm_runs_tenant_id_kind_finished_at", "tenant_id", "kind", "finished_at"),
        # One scheduled run per brand, kind and period, whatever the scheduler replicas.
        UniqueConstraint("tenant_id", "kind", "scheduled_for"),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    kind: Mapped[RfmKind] = mapped_column(string_enum(RfmKind, "rfm_kind"))
    as_of: Mapped[dt.datetime]
    window_days: Mapped[int]
    status: Mapped[RfmRunStatus] = mapped_column(string_enum(RfmRunStatus, "rfm_run_status"))
    method: Mapped[RfmMethod] = mapped_column(string_enum(RfmMethod, "rfm_method"))
    # {"recency": [p20, p40, p60, p80], "frequency": [...], "monetary": [...]} as used
    cut_points: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    scored_count: Mapped[int] = mapped_column(default=0)
    changed_count: Mapped[int] = mapped_column(default=0)  # profiles whose named segment changed
    error: Mapped[str | None] = mapped_column(String(500))
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    # The start of the schedule's period for a scheduled run; None for a run asked on demand.
    scheduled_for: Mapped[dt.datetime | None]


class RfmScore(TimestampMixin, TenantMixin, Base):
    """The score one run gave one profile (only profiles active in the run's window).

    A bulk, derived table (a run writes one row per active profile) without foreign keys:
    checking the run, the profile and the brand for each row cost more than the rest of the
    insert (``bench/rfm.py``). Its rows go through hooks instead: with their profile (the
    profiles' delete and merge hooks) and with their brand (the tenancy's brand-delete hook), in
    :mod:`backend.rfm.service`; runs are never deleted otherwise. No index on the profile either:
    a profile's history is one primary-key lookup per run.
    """

    __tablename__ = "rfm_scores"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "run_id", "profile_id"),)

    # The brand, without a foreign key of its own (see above).
    tenant_id: Mapped[UUID] = mapped_column(primary_key=True)
    run_id: Mapped[UUID] = mapped_column(primary_key=True)
    profile_id: Mapped[UUID] = mapped_column(primary_key=True)
    recency_days: Mapped[int]
    frequency: Mapped[int]
    monetary: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    r: Mapped[int] = mapped_column(SmallInteger)
    f: Mapped[int] = mapped_column(SmallInteger)
    m: Mapped[int] = mapped_column(SmallInteger)
    segment: Mapped[str] = mapped_column(String(40))
    # The named segment in the previous succeeded run of the same kind (None: not scored then).
    previous_segment: Mapped[str | None] = mapped_column(String(40))
    direction: Mapped[RfmDirection | None] = mapped_column(
        string_enum(RfmDirection, "rfm_direction"), nullable=True
    )
