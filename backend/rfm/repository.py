"""RFM queries."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

from sqlalchemy import Select, select

from backend.rfm.models import RfmKind, RfmRun, RfmRunStatus, RfmScore


def current_run_id_query(kind: RfmKind) -> Select[UUID]:
    """The id of the brand's latest succeeded run of ``kind`` (a scalar subquery source)."""
    return (
        select(RfmRun.id)
        .where(RfmRun.kind == kind, RfmRun.status == RfmRunStatus.SUCCEEDED)
        .order_by(RfmRun.finished_at.desc(), RfmRun.id.desc())
        .limit(1)
    )


def current_scores_query(
    kind: RfmKind,
) -> Select[UUID, int, int, Decimal, int, int, int, str]:
    """profile_id, recency_days, frequency, monetary, r, f, m, segment of the current run."""
    return select(
        RfmScore.profile_id,
        RfmScore.recency_days,
        RfmScore.frequency,
        RfmScore.monetary,
        RfmScore.r,
        RfmScore.f,
        RfmScore.m,
        RfmScore.segment,
    ).where(RfmScore.run_id == current_run_id_query(kind).scalar_subquery())
