"""GraphQL of RFM: settings, runs, scores and a profile's scores; starting a run and changing the
settings (the same services as REST; expected failures as `OperationError` union members)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from backend.auth.context import GraphQLContext
from backend.core.access import Access
from backend.core.errors import NotFound
from backend.core.graphql_results import OperationError, attempt, parse_id
from backend.core.pagination import PageRequest
from backend.core.schemas import parse_input
from backend.profiles import service as profile_service
from backend.rfm import service
from backend.rfm.models import (
    RfmDirection,
    RfmKind,
    RfmMethod,
    RfmRun,
    RfmRunStatus,
    RfmSchedule,
    RfmScore,
)
from backend.rfm.schemas import RfmRunIn, RfmSettingsIn
from backend.rfm.service import ProfileScore, SettingsView

Ctx = Info[GraphQLContext, None]
RfmKindEnum = strawberry.enum(RfmKind, name="RfmKind")
RfmScheduleEnum = strawberry.enum(RfmSchedule, name="RfmSchedule")
RfmRunStatusEnum = strawberry.enum(RfmRunStatus, name="RfmRunStatus")
RfmMethodEnum = strawberry.enum(RfmMethod, name="RfmMethod")
RfmDirectionEnum = strawberry.enum(RfmDirection, name="RfmDirection")
READ_SCOPE, WRITE_SCOPE = "segments:read", "segments:write"


@strawberry.type(name="RfmAxisThresholds", description="Four ascending cut points per axis.")
class AxisThresholdsType:
    recency: list[float]
    frequency: list[float]
    monetary: list[float]

    @classmethod
    def of(cls, axes: dict[str, list[float]] | None) -> AxisThresholdsType | None:
        if not axes:
            return None
        return cls(recency=axes["recency"], frequency=axes["frequency"], monetary=axes["monetary"])


@strawberry.type(name="RfmSettings")
class SettingsType:
    purchase_window_days: int
    engagement_window_days: int
    engagement_events: list[str]
    schedule: RfmScheduleEnum  # type: ignore[valid-type]
    purchase_thresholds: AxisThresholdsType | None
    engagement_thresholds: AxisThresholdsType | None

    @classmethod
    def of(cls, view: SettingsView) -> SettingsType:
        return cls(
            purchase_window_days=view.purchase_window_days,
            engagement_window_days=view.engagement_window_days,
            engagement_events=view.engagement_events,
            schedule=view.schedule,
            purchase_thresholds=AxisThresholdsType.of(view.thresholds_of(RfmKind.PURCHASE)),
            engagement_thresholds=AxisThresholdsType.of(view.thresholds_of(RfmKind.ENGAGEMENT)),
        )


@strawberry.type(name="RfmRun", description="One RFM computation; every run is kept.")
class RunType:
    id: strawberry.ID
    kind: RfmKindEnum  # type: ignore[valid-type]
    status: RfmRunStatusEnum  # type: ignore[valid-type]
    as_of: dt.datetime
    window_days: int
    method: RfmMethodEnum  # type: ignore[valid-type]
    cut_points: AxisThresholdsType | None = strawberry.field(description="The cut points used.")
    scored_count: int
    changed_count: int
    error: str | None
    scheduled_for: dt.datetime | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    created_at: dt.datetime

    @classmethod
    def of(cls, run: RfmRun) -> RunType:
        return cls(
            id=strawberry.ID(str(run.id)),
            kind=run.kind,
            status=run.status,
            as_of=run.as_of,
            window_days=run.window_days,
            method=run.method,
            cut_points=AxisThresholdsType.of(run.cut_points),
            scored_count=run.scored_count,
            changed_count=run.changed_count,
            error=run.error,
            scheduled_for=run.scheduled_for,
            started_at=run.started_at,
            finished_at=run.finished_at,
            created_at=run.created_at,
        )


@strawberry.type(name="RfmScore", description="A profile's score in one run.")
class ScoreType:
    profile_id: strawberry.ID
    run_id: strawberry.ID
    recency_days: int
    frequency: int
    monetary: Decimal
    r: int
    f: int
    m: int
    segment: str
    previous_segment: str | None
    direction: RfmDirectionEnum | None  # type: ignore[valid-type]

    @classmethod
    def of(cls, score: RfmScore) -> ScoreType:
        return cls(
            profile_id=strawberry.ID(str(score.profile_id)),
            run_id=strawberry.ID(str(score.run_id)),
            recency_days=score.recency_days,
            frequency=score.frequency,
            monetary=score.monetary,
            r=score.r,
            f=score.f,
            m=score.m,
            segment=score.segment,
            previous_segment=score.previous_segment,
            direction=score.direction,
        )


@strawberry.type(name="ProfileRfmScore")
class ProfileScoreType:
    kind: RfmKindEnum  # type: ignore[valid-type]
    as_of: dt.datetime
    score: ScoreType

    @classmethod
    def of(cls, item: ProfileScore) -> ProfileScoreType:
        return cls(kind=item.run.kind, as_of=item.run.as_of, score=ScoreType.of(item.score))


@strawberry.type(name="ProfileRfm")
class ProfileRfmType:
    purchase: ProfileScoreType | None
    engagement: ProfileScoreType | None
    history: list[ProfileScoreType]


@strawberry.type(name="RfmRunPage")
class RunPageType:
    items: list[RunType]
    next_cursor: str | None


@strawberry.type(name="RfmScorePage")
class ScorePageType:
    items: list[ScoreType]
    next_cursor: str | None


@strawberry.input(name="RfmAxisThresholdsInput")
class AxisThresholdsInput:
    recency: list[float]
    frequency: list[float]
    monetary: list[float]


@strawberry.input(
    name="RfmSettingsInput", description="Replaces the settings; absent fields take defaults."
)
class SettingsInput:
    purchase_window_days: int | None = None
    engagement_window_days: int | None = None
    engagement_events: list[str] | None = None
    schedule: RfmScheduleEnum | None = None  # type: ignore[valid-type]
    purchase_thresholds: AxisThresholdsInput | None = None
    engagement_thresholds: AxisThresholdsInput | None = None


RfmRunResult = Annotated[RunType | OperationError, strawberry.union("RfmRunResult")]
RfmSettingsResult = Annotated[SettingsType | OperationError, strawberry.union("RfmSettingsResult")]


def _settings_values(input: SettingsInput) -> dict[str, Any]:
    thresholds = {
        kind: vars(given)
        for kind, given in (
            ("purchase", input.purchase_thresholds),
            ("engagement", input.engagement_thresholds),
        )
        if given is not None
    }
    return {
        "purchase_window_days": input.purchase_window_days,
        "engagement_window_days": input.engagement_window_days,
        "engagement_events": input.engagement_events,
        "schedule": input.schedule,
        "thresholds": thresholds or None,
    }


@strawberry.type
class RfmQuery:
    @strawberry.field(description="The brand's RFM settings.")
    async def rfm_settings(self, info: Ctx, brand: strawberry.ID) -> SettingsType:
        ctx = info.context
        tenant = ctx.require_caller().require_brand(parse_id(brand), Access.VIEWER, READ_SCOPE)
        async with ctx.transaction(tenant) as session:
            return SettingsType.of(await service.get_settings(session))

    @strawberry.field(description="The brand's RFM runs, in the order they were asked for.")
    async def rfm_runs(
        self,
        info: Ctx,
        brand: strawberry.ID,
        first: int = 50,
        after: str | None = None,
        kind: RfmKindEnum | None = None,  # type: ignore[valid-type]
    ) -> RunPageType:
        ctx = info.context
        tenant = ctx.require_caller().require_brand(parse_id(brand), Access.VIEWER, READ_SCOPE)
        page = PageRequest.parse(first, after)
        async with ctx.transaction(tenant) as session:
            items, cursor = await service.list_runs(session, page, kind)
        return RunPageType(items=[RunType.of(r) for r in items], next_cursor=cursor)

    @strawberry.field(description="One RFM run (null when the brand has no such run).")
    async def rfm_run(self, info: Ctx, brand: strawberry.ID, id: strawberry.ID) -> RunType | None:
        ctx = info.context
        tenant = ctx.require_caller().require_brand(parse_id(brand), Access.VIEWER, READ_SCOPE)
        async with ctx.transaction(tenant) as session:
            try:
                run = await service.get_run(session, parse_id(id))
            except NotFound:
                return None
        return RunType.of(run)

    @strawberry.field(
        description="Scores of a run in profile order: `runId`'s, or the current run of `kind`."
    )
    async def rfm_scores(
        self,
        info: Ctx,
        brand: strawberry.ID,
        kind: RfmKindEnum = RfmKind.PURCHASE,  # type: ignore[valid-type]
        run_id: strawberry.ID | None = None,
        segment: str | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> ScorePageType:
        ctx = info.context
        tenant = ctx.require_caller().require_brand(parse_id(brand), Access.VIEWER, READ_SCOPE)
        page = PageRequest.parse(first, after)
        async with ctx.transaction(tenant) as session:
            items, cursor = await service.list_scores(
                session,
                page,
                kind=kind,
                run_id=parse_id(run_id) if run_id is not None else None,
                segment=segment,
            )
        return ScorePageType(items=[ScoreType.of(s) for s in items], next_cursor=cursor)

    @strawberry.field(description="A profile's current RFM scores and its score in every run.")
    async def profile_rfm(
        self, info: Ctx, brand: strawberry.ID, profile_id: strawberry.ID
    ) -> ProfileRfmType:
        ctx = info.context
        tenant = ctx.require_caller().require_brand(parse_id(brand), Access.VIEWER, READ_SCOPE)
        async with ctx.transaction(tenant) as session:
            target = await profile_service.survivor_of(session, parse_id(profile_id))
            found = await service.profile_scores(session, target or parse_id(profile_id))
        current = {kind: ProfileScoreType.of(item) for kind, item in found.current.items()}
        return ProfileRfmType(
            purchase=current.get(RfmKind.PURCHASE),
            engagement=current.get(RfmKind.ENGAGEMENT),
            history=[ProfileScoreType.of(item) for item in found.history],
        )


@strawberry.type
class RfmMutation:
    @strawberry.mutation(description="Queue an RFM run of `kind` as of `asOf` (default now).")
    async def start_rfm_run(
        self,
        info: Ctx,
        brand: strawberry.ID,
        kind: RfmKindEnum = RfmKind.PURCHASE,  # type: ignore[valid-type]
        as_of: dt.datetime | None = None,
    ) -> RfmRunResult:
        ctx = info.context

        async def run() -> RunType:
            tenant = ctx.require_caller().require_brand(
                parse_id(brand), Access.MANAGER, WRITE_SCOPE
            )
            data = RfmRunIn(kind=kind, as_of=as_of)
            async with ctx.transaction(tenant) as session:
                return RunType.of(await service.start_run(session, tenant, data))

        return await attempt(run)

    @strawberry.mutation(description="Replace the brand's RFM settings.")
    async def update_rfm_settings(
        self, info: Ctx, brand: strawberry.ID, input: SettingsInput
    ) -> RfmSettingsResult:
        ctx = info.context

        async def run() -> SettingsType:
            tenant = ctx.require_caller().require_brand(
                parse_id(brand), Access.MANAGER, WRITE_SCOPE
            )
            data = parse_input(RfmSettingsIn, **_settings_values(input))
            async with ctx.transaction(tenant) as session:
                return SettingsType.of(await service.update_settings(session, data))

        return await attempt(run)
