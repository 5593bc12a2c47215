"""GraphQL of RFM: settings, runs, scores and a profile's scores, the REST shapes (derived from
`backend.rfm.schemas`) read and written through the same services; starting a run and replacing
the settings answer an expected failure as the `OperationError` member of their result union."""

from __future__ import annotations

from uuid import UUID

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.graphql_entities import entity_type, graphql_enum, input_type, struct_of
from backend.core.graphql_fields import BrandUnit, brand_mutation, brand_query
from backend.core.graphql_results import parse_id
from backend.core.relay import Connection, Node
from backend.profiles import service as profile_service
from backend.rfm import service
from backend.rfm.models import RfmDirection, RfmKind, RfmMethod, RfmRunStatus, RfmSchedule
from backend.rfm.schemas import (
    ProfileRfmOut,
    ProfileRfmScoreOut,
    RfmAxisThresholds,
    RfmCutPoints,
    RfmRunIn,
    RfmRunOut,
    RfmScoreOut,
    RfmSettingsIn,
    RfmSettingsOut,
    RfmThresholds,
)

READ, WRITE = "segments:read", "segments:write"
for _enum in (RfmKind, RfmSchedule, RfmRunStatus, RfmMethod, RfmDirection):
    graphql_enum(_enum)


async def _load_run(session: AsyncSession, run_id: UUID) -> RfmRunOut:
    return RfmRunOut.of(await service.get_run(session, run_id))


@entity_type(RfmAxisThresholds, name="RfmAxisThresholds")
class RfmAxisThresholdsType:
    pass


@entity_type(RfmThresholds, name="RfmThresholds")
class RfmThresholdsType:
    pass


@entity_type(RfmSettingsOut, name="RfmSettings")
class RfmSettingsType:
    pass


@entity_type(RfmCutPoints, name="RfmCutPoints", description="The cut points a run used.")
class RfmCutPointsType:
    pass


@entity_type(RfmRunOut, name="RfmRun", node=(READ, _load_run))
class RfmRunType(Node):
    """One RFM computation of one kind; every run is kept."""


@entity_type(RfmScoreOut, name="RfmScore")
class RfmScoreType:
    pass


@entity_type(ProfileRfmScoreOut, name="ProfileRfmScore")
class ProfileRfmScoreType:
    pass


@entity_type(ProfileRfmOut, name="ProfileRfm")
class ProfileRfmType:
    pass


@input_type(RfmAxisThresholds, name="RfmAxisThresholdsInput")
class RfmAxisThresholdsInput:
    pass


@input_type(RfmThresholds, name="RfmThresholdsInput")
class RfmThresholdsInput:
    pass


@input_type(RfmSettingsIn, name="ReplaceRfmSettingsInput")
class ReplaceRfmSettingsInput:
    pass


@input_type(RfmRunIn, name="StartRfmRunInput")
class StartRfmRunInput:
    pass


@strawberry.type
class RfmQuery:
    @brand_query(READ)
    async def rfm_settings(self, unit: BrandUnit) -> RfmSettingsType:
        """The brand's RFM settings (the defaults until replaced)."""
        return RfmSettingsOut.of(await service.get_settings(unit.session))

    @brand_query(READ)
    async def rfm_runs(
        self,
        unit: BrandUnit,
        first: int = 50,
        after: str | None = None,
        kind: RfmKind | None = None,
    ) -> Connection[RfmRunType]:
        """The brand's RFM runs (of `kind`, when given), in the order they were asked for."""
        page = unit.page(first, after)
        items, cursor = await service.list_runs(unit.session, page, kind)

        async def count(session: AsyncSession) -> int:
            return await service.count_runs(session, kind)

        return unit.connection(RfmRunOut.many(items), cursor, page, count=count)

    @brand_query(READ, missing_is_null=True)
    async def rfm_run(self, unit: BrandUnit, id: strawberry.ID) -> RfmRunType | None:
        """One RFM run (null when the brand has no such run)."""
        return await _load_run(unit.session, parse_id(id, "RfmRun"))

    @brand_query(READ)
    async def rfm_scores(
        self,
        unit: BrandUnit,
        first: int = 50,
        after: str | None = None,
        kind: RfmKind = RfmKind.PURCHASE,
        run_id: strawberry.ID | None = None,
        segment: str | None = None,
    ) -> Connection[RfmScoreType]:
        """The scores of one run in profile order: `runId`'s, or the current (latest succeeded)
        run of `kind`; only `segment`'s when given."""
        page = unit.page(first, after)
        items, cursor = await service.list_scores(
            unit.session,
            page,
            kind=kind,
            run_id=parse_id(run_id, "RfmRun") if run_id is not None else None,
            segment=segment,
        )
        return unit.connection(RfmScoreOut.many(items), cursor, page, key=lambda s: s.profile_id)

    @brand_query(READ)
    async def profile_rfm(self, unit: BrandUnit, profile_id: strawberry.ID) -> ProfileRfmType:
        """A profile's current purchase and engagement scores and its score in every run,
        newest first (a merged profile's id reads the survivor's)."""
        named = parse_id(profile_id, "Profile")
        target = await profile_service.survivor_of(unit.session, named) or named
        return ProfileRfmOut.of_profile(await service.profile_scores(unit.session, target))


@strawberry.type
class RfmMutation:
    @brand_mutation(WRITE)
    async def start_rfm_run(self, unit: BrandUnit, input: StartRfmRunInput) -> RfmRunType:
        """Queue a run of `kind` (default purchase) as of `asOf` (default now); it is scored in
        the background: read the run again for its status."""
        data = struct_of(RfmRunIn, input)
        return RfmRunOut.of(await service.start_run(unit.session, unit.tenant, data))

    @brand_mutation(WRITE)
    async def replace_rfm_settings(
        self, unit: BrandUnit, input: ReplaceRfmSettingsInput
    ) -> RfmSettingsType:
        """Replace the brand's RFM settings as a whole (a field left out takes its default);
        they apply to runs asked for from then on."""
        data = struct_of(RfmSettingsIn, input)
        return RfmSettingsOut.of(await service.update_settings(unit.session, data))
