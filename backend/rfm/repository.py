"""RFM queries. The scoring is set-based SQL: one statement aggregates the window per profile,
scores, names segments, joins the previous run and inserts the scores (no per-profile Python).

Orders and engagement events are read here by table (as triggers read profiles' orders): their
domains own the rows; RFM only aggregates them, inside the brand's transaction (RLS applies).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Float,
    Select,
    String,
    Uuid,
    bindparam,
    delete,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import TextClause

from backend.core.db import UTCDateTime, dialect_of, postgres_settings
from backend.core.pagination import PageRequest, count_rows, paginate
from backend.core.tenancy import required_tenant
from backend.rfm import grid
from backend.rfm.models import RfmKind, RfmRun, RfmRunStatus, RfmScore, RfmSettings
from backend.tenancy.models import Brand, BrandStatus

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
WORK_MEM = "64MB"  # of the scoring transaction (PostgreSQL)
MICROS_PER_DAY = 86_400_000_000


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


# Settings and runs -----------------------------------------------------------------------------


async def get_settings(session: AsyncSession) -> RfmSettings | None:
    return (await session.scalars(select(RfmSettings))).one_or_none()


async def get_run(session: AsyncSession, run_id: UUID) -> RfmRun | None:
    query = select(RfmRun).where(RfmRun.id == run_id).execution_options(populate_existing=True)
    return (await session.scalars(query)).one_or_none()


async def claim_run(session: AsyncSession, run_id: UUID, now: dt.datetime) -> bool:
    """Mark a queued (or interrupted) run running; False when it is finished or absent."""
    result = await session.execute(
        update(RfmRun)
        .where(
            RfmRun.id == run_id,
            RfmRun.status.in_((RfmRunStatus.QUEUED, RfmRunStatus.RUNNING)),
        )
        .values(status=RfmRunStatus.RUNNING, started_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def list_runs(
    session: AsyncSession, page: PageRequest, kind: RfmKind | None
) -> tuple[list[RfmRun], str | None]:
    query = select(RfmRun)
    if kind is not None:
        query = query.where(RfmRun.kind == kind)
    return await paginate(session, query, RfmRun.id, page)


async def count_runs(session: AsyncSession, kind: RfmKind | None) -> int:
    query = select(RfmRun)
    if kind is not None:
        query = query.where(RfmRun.kind == kind)
    return await count_rows(session, query)


async def previous_run_id(session: AsyncSession, kind: RfmKind, run_id: UUID) -> UUID | None:
    """The latest succeeded run of ``kind`` other than ``run_id``: what a run compares with."""
    query = current_run_id_query(kind).where(RfmRun.id != run_id)
    return (await session.scalars(query)).first()


async def current_run_id(session: AsyncSession, kind: RfmKind) -> UUID | None:
    return (await session.scalars(current_run_id_query(kind))).first()


async def scores_in_runs(
    session: AsyncSession, profile_ids: Sequence[UUID], run_ids: Sequence[UUID]
) -> list[tuple[RfmScore, RfmRun]]:
    """These profiles' scores in these runs, in one query."""
    if not profile_ids or not run_ids:
        return []
    query = (
        select(RfmScore, RfmRun)
        .join(RfmRun, (RfmRun.tenant_id == RfmScore.tenant_id) & (RfmRun.id == RfmScore.run_id))
        .where(RfmScore.profile_id.in_(profile_ids), RfmScore.run_id.in_(run_ids))
    )
    return [(row[0], row[1]) for row in await session.execute(query)]


async def lock_kind(session: AsyncSession, tenant: UUID, kind: RfmKind) -> None:
    """Serialise runs of one brand and kind (PostgreSQL), so each sees the one before it."""
    if dialect_of(session) == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"rfm:{tenant}:{kind.value}"},
        )


async def active_brand_ids(session: AsyncSession) -> list[UUID]:
    query = select(Brand.id).where(Brand.status == BrandStatus.ACTIVE).order_by(Brand.id)
    return list((await session.scalars(query)).all())


# Scores ----------------------------------------------------------------------------------------


async def list_scores(
    session: AsyncSession, page: PageRequest, run_id: UUID, segment: str | None
) -> tuple[list[RfmScore], str | None]:
    query = select(RfmScore).where(RfmScore.run_id == run_id)
    if segment is not None:
        query = query.where(RfmScore.segment == segment)
    return await paginate(session, query, RfmScore.profile_id, page)


async def scores_of_profile(
    session: AsyncSession, profile_id: UUID
) -> list[tuple[RfmScore, RfmRun]]:
    """The profile's scores in every succeeded run, newest run first (PK lookups per run)."""
    query = (
        select(RfmScore, RfmRun)
        .join(RfmRun, (RfmRun.tenant_id == RfmScore.tenant_id) & (RfmRun.id == RfmScore.run_id))
        .where(RfmScore.profile_id == profile_id, RfmRun.status == RfmRunStatus.SUCCEEDED)
        .order_by(RfmRun.finished_at.desc(), RfmRun.id.desc())
    )
    return [(row[0], row[1]) for row in await session.execute(query)]


async def changed_scores(
    session: AsyncSession, run_id: UUID, after: UUID | None, limit: int
) -> list[RfmScore]:
    """The run's scores whose named segment changed, in profile order after ``after``."""
    query = select(RfmScore).where(
        RfmScore.run_id == run_id,
        RfmScore.previous_segment.is_not(None),
        RfmScore.previous_segment != RfmScore.segment,
    )
    if after is not None:
        query = query.where(RfmScore.profile_id > after)
    query = query.order_by(RfmScore.profile_id).limit(limit)
    return list((await session.scalars(query)).all())


async def delete_brand_scores(session: AsyncSession) -> None:
    await session.execute(delete(RfmScore))  # the session's brand (scoped, and RLS)


async def delete_profile_scores(session: AsyncSession, profile_id: UUID) -> None:
    # Through the primary key, one lookup per run (scores carry no index on the profile).
    await session.execute(
        delete(RfmScore).where(
            RfmScore.run_id.in_(select(RfmRun.id)), RfmScore.profile_id == profile_id
        )
    )


# Scoring SQL -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    tenant: UUID
    kind: RfmKind
    as_of: dt.datetime
    window_days: int
    engagement_events: tuple[str, ...] = ()

    @property
    def start(self) -> dt.datetime:
        return self.as_of - dt.timedelta(days=self.window_days)


@dataclass(frozen=True)
class Outcome:
    cut_points: dict[str, list[float]] | None
    scored: int
    changed: int


_PARAM = re.compile(r"(?<![:\w]):(\w+)")


def _typed(value: Any) -> Any:
    if isinstance(value, UUID):
        return Uuid()
    if isinstance(value, dt.datetime):
        return UTCDateTime()
    if isinstance(value, bool | int):
        return BigInteger()
    if isinstance(value, float):
        return Float()
    if isinstance(value, str):
        return String()
    return None


def _statement(sql: str, values: dict[str, Any]) -> tuple[TextClause, dict[str, Any]]:
    """A text statement whose parameters are typed from their values (UUIDs and instants are
    stored differently by each dialect); only the parameters the SQL names are bound."""
    named = set(_PARAM.findall(sql))
    params: list[Any] = []
    for name in sorted(named):
        value = values[name]
        if isinstance(value, tuple | list):
            params.append(bindparam(name, expanding=True))
        else:
            params.append(bindparam(name, type_=_typed(value)))
    return text(sql).bindparams(*params), {k: v for k, v in values.items() if k in named}


def _recency_sql(dialect: str, last: str) -> str:
    """Whole days from ``last`` to ``:as_of`` (floor), exactly, on each dialect."""
    if dialect == "postgresql":
        return f"CAST(floor(extract(epoch FROM (:as_of - {last})) / 86400) AS integer)"
    # SQLite stores instants as 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC): exact integer microseconds.
    micros = (
        f"(CAST(strftime('%s', {last}) AS INTEGER) * 1000000 "
        f"+ CAST(substr({last}, 21, 6) AS INTEGER))"
    )
    return f"((:as_of_us - {micros}) / {MICROS_PER_DAY})"


def base_sql(dialect: str, kind: RfmKind) -> str:
    """profile_id, recency_days, frequency, monetary of every profile active in the window."""
    window = (
        "{a}.tenant_id = :tenant AND {a}.occurred_at > :window_start AND {a}.occurred_at <= :as_of"
    )
    orders = window.format(a="o")
    if kind is RfmKind.PURCHASE:
        return (
            f"SELECT o.profile_id AS profile_id, "  # noqa: S608
            f"{_recency_sql(dialect, 'max(o.occurred_at)')} AS recency_days, "
            f"CAST(count(*) AS integer) AS frequency, sum(o.amount) AS monetary "
            f"FROM orders o WHERE {orders} GROUP BY o.profile_id"
        )
    events = window.format(a="e")
    return (
        "SELECT ev.profile_id AS profile_id, ev.recency_days AS recency_days, "  # noqa: S608
        "ev.frequency AS frequency, coalesce(om.monetary, 0) AS monetary FROM ("
        f"SELECT e.profile_id AS profile_id, "
        f"{_recency_sql(dialect, 'max(e.occurred_at)')} AS recency_days, "
        f"CAST(count(*) AS integer) AS frequency "
        f"FROM events e WHERE {events} AND e.name IN :event_names GROUP BY e.profile_id"
        ") ev LEFT JOIN ("
        f"SELECT o.profile_id AS profile_id, sum(o.amount) AS monetary "
        f"FROM orders o WHERE {orders} GROUP BY o.profile_id"
        ") om ON om.profile_id = ev.profile_id"
    )


def _cut_refs(in_sql: bool) -> dict[str, list[str]]:
    if in_sql:
        return {axis: [f"c.{axis[0]}c[{i}]" for i in range(1, 5)] for axis in grid.AXES}
    return {axis: [f":{axis[0]}c{i}" for i in range(1, 5)] for axis in grid.AXES}


def insert_sql(kind: RfmKind, *, cuts_in_sql: bool, fence: bool) -> str:
    """INSERT … SELECT of the scores from ``base`` (a CTE), against cut points that are either
    the ``cuts`` CTE's arrays or parameters; joined to the previous run for the change.

    ``fence`` (PostgreSQL) keeps each level a subquery of its own (``OFFSET 0``): flattened, the
    planner would copy the score expressions into every branch of the segment CASE and the
    segment CASE into every rank comparison, evaluating them dozens of times a row."""
    refs = _cut_refs(cuts_in_sql)
    r = grid.score_sql("b.recency_days", refs["recency"], lower_is_better=True)
    f = grid.score_sql("b.frequency", refs["frequency"])
    m = grid.score_sql("b.monetary", refs["monetary"])
    segment = grid.segment_sql(
        kind,
        r="s.r",
        f="s.f",
        m="s.m",
        recency="s.recency_days",
        frequency="s.frequency",
        previous_r="p.r",
        previous_f="p.f",
        previous_m="p.m",
    )
    direction = grid.direction_sql(kind, "n.segment", "n.previous_segment")
    cross = " CROSS JOIN cuts c" if cuts_in_sql else ""
    offset = " OFFSET 0" if fence else ""
    return (
        "INSERT INTO rfm_scores (tenant_id, run_id, profile_id, recency_days, frequency, "  # noqa: S608
        "monetary, r, f, m, segment, previous_segment, direction, created_at, updated_at) "
        "SELECT :tenant, :run_id, n.profile_id, n.recency_days, n.frequency, n.monetary, "
        f"n.r, n.f, n.m, n.segment, n.previous_segment, {direction}, :now, :now FROM ("
        "SELECT s.profile_id AS profile_id, s.recency_days AS recency_days, "
        "s.frequency AS frequency, s.monetary AS monetary, s.r AS r, s.f AS f, s.m AS m, "
        f"{segment} AS segment, p.segment AS previous_segment FROM ("
        "SELECT b.profile_id AS profile_id, b.recency_days AS recency_days, "
        "b.frequency AS frequency, b.monetary AS monetary, "
        f"{r} AS r, {f} AS f, {m} AS m FROM base b{cross}{offset}"
        ") s LEFT JOIN rfm_scores p ON p.tenant_id = :tenant AND p.run_id = :previous_run "
        f"AND p.profile_id = s.profile_id{offset}) n"
    )


CUTS_SQL = (
    "SELECT percentile_cont(ARRAY[0.2, 0.4, 0.6, 0.8]::float8[]) "
    "WITHIN GROUP (ORDER BY b.recency_days) AS rc, "
    "percentile_cont(ARRAY[0.2, 0.4, 0.6, 0.8]::float8[]) "
    "WITHIN GROUP (ORDER BY b.frequency) AS fc, "
    "percentile_cont(ARRAY[0.2, 0.4, 0.6, 0.8]::float8[]) "
    "WITHIN GROUP (ORDER BY b.monetary) AS mc FROM base b"
)


def _values(
    window: Window, run_id: UUID, previous: UUID | None, now: dt.datetime
) -> dict[str, Any]:
    as_of_us = (window.as_of - EPOCH) // dt.timedelta(microseconds=1)
    return {
        "tenant": window.tenant,
        "run_id": run_id,
        "previous_run": previous if previous is not None else run_id,  # none: matches nothing
        "as_of": window.as_of,
        "as_of_us": as_of_us,
        "window_start": window.start,
        "event_names": list(window.engagement_events) or [""],
        "now": now,
    }


async def score_run(
    session: AsyncSession,
    window: Window,
    run_id: UUID,
    previous: UUID | None,
    now: dt.datetime,
    thresholds: dict[str, list[float]] | None,
) -> Outcome:
    """Score every profile active in the window into ``rfm_scores`` for ``run_id``."""
    # One bulk statement: sorts (cut points) and the hash of the previous run's scores stay in
    # memory instead of spilling to disk at the default 4 MB.
    async with postgres_settings(session, {"work_mem": WORK_MEM}):
        return await _score_run(session, window, run_id, previous, now, thresholds)


async def _score_run(
    session: AsyncSession,
    window: Window,
    run_id: UUID,
    previous: UUID | None,
    now: dt.datetime,
    thresholds: dict[str, list[float]] | None,
) -> Outcome:
    dialect = dialect_of(session)
    values = _values(window, run_id, previous, now)
    base = base_sql(dialect, window.kind)
    if thresholds is None and dialect == "postgresql":
        # One statement: aggregate, cut points, scores, segments, previous run, insert.
        sql = (
            f"WITH base AS ({base}), cuts AS ({CUTS_SQL}), ins AS ("  # noqa: S608
            f"{insert_sql(window.kind, cuts_in_sql=True, fence=True)} "
            "RETURNING previous_segment, segment) "
            "SELECT c.rc, c.fc, c.mc, (SELECT count(*) FROM ins) AS scored, "
            "(SELECT count(*) FROM ins WHERE previous_segment IS NOT NULL "
            "AND previous_segment <> segment) AS changed FROM cuts c"
        )
        statement, params = _statement(sql, values)
        row = (await session.execute(statement, params)).one()
        cuts = None
        if row.rc is not None:
            cuts = {"recency": list(row.rc), "frequency": list(row.fc), "monetary": list(row.mc)}
        return Outcome(cuts, int(row.scored), int(row.changed))

    cuts = thresholds
    if cuts is None:
        # SQLite has no percentile_cont: the same interpolation over the sorted values.
        statement, params = _statement(
            f"WITH base AS ({base}) SELECT recency_days, frequency, monetary FROM base",  # noqa: S608
            values,
        )
        rows = (await session.execute(statement, params)).all()
        found = [grid.cut_points([row[i] for row in rows]) for i in range(3)]
        if found[0] is None:
            return Outcome(None, 0, 0)
        cuts = {axis: points for axis, points in zip(grid.AXES, found, strict=True) if points}
    for axis in grid.AXES:
        for index, value in enumerate(cuts[axis], start=1):
            values[f"{axis[0]}c{index}"] = float(value)
    statement, params = _statement(
        f"WITH base AS ({base}) "
        f"{insert_sql(window.kind, cuts_in_sql=False, fence=dialect == 'postgresql')}",
        values,
    )
    await session.execute(statement, params)
    scored, changed = await count_scores(session, run_id)
    return Outcome(cuts, scored, changed)


async def count_scores(session: AsyncSession, run_id: UUID) -> tuple[int, int]:
    statement, params = _statement(
        "SELECT count(*) AS scored, coalesce(sum(CASE WHEN previous_segment IS NOT NULL "
        "AND previous_segment <> segment THEN 1 ELSE 0 END), 0) AS changed "
        "FROM rfm_scores WHERE tenant_id = :tenant AND run_id = :run_id",
        {"tenant": _tenant_of(session), "run_id": run_id},
    )
    row = (await session.execute(statement, params)).one()
    return int(row.scored), int(row.changed)


def _tenant_of(session: AsyncSession) -> UUID:
    return required_tenant(session)  # RFM scores are read in a brand's session
