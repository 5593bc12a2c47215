"""REST routes for RFM under ``/v1/brands/{brand_id}``: settings, runs, scores and a profile's
scores. The brand guard answers 404 for a brand out of reach; reads need `segments:read`,
settings and runs `segments:write`."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import get, post, put
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_202_ACCEPTED

from backend.auth.scopes import needs
from backend.core.api import PROFILE_READ_ERRORS, READ_ERRORS, WRITE_ERRORS, BrandController
from backend.core.dependencies import DbSession, Paging, Tenant
from backend.rfm import service
from backend.rfm.models import RfmKind
from backend.rfm.schemas import (
    ProfileRfmOut,
    RfmRunIn,
    RfmRunOut,
    RfmRunPage,
    RfmScoreOut,
    RfmScorePage,
    RfmSettingsIn,
    RfmSettingsOut,
)


class RfmController(BrandController):
    """The brand's RFM: settings, runs and scores."""

    path = "/v1/brands/{brand_id:uuid}/rfm"
    tags = ["rfm"]

    @get(
        "/settings",
        operation_id="getRfmSettings",
        summary="Read RFM settings",
        **needs("segments:read"),
        responses=READ_ERRORS,
    )
    async def get_settings(self, db_session: DbSession) -> RfmSettingsOut:
        """Windows (days), engagement event names, schedule and fixed thresholds (if any)."""
        return RfmSettingsOut.of(await service.get_settings(db_session))

    @put(
        "/settings",
        operation_id="replaceRfmSettings",
        summary="Replace RFM settings",
        **needs("segments:write"),
        responses=WRITE_ERRORS,
    )
    async def put_settings(
        self, db_session: DbSession, data: JSONBody[RfmSettingsIn]
    ) -> RfmSettingsOut:
        """Replace the settings: windows of 1 to 3650 days, 1 to 50 engagement event names, a
        schedule (monthly, weekly, daily or off) and optional thresholds: four strictly
        ascending numbers per axis of a kind. They apply to runs asked for from now on."""
        return RfmSettingsOut.of(await service.update_settings(db_session, data))

    @post(
        "/runs",
        operation_id="startRfmRun",
        summary="Start an RFM run",
        **needs("segments:write"),
        status_code=HTTP_202_ACCEPTED,
        responses=WRITE_ERRORS,
    )
    async def start_run(
        self, db_session: DbSession, tenant: Tenant, data: JSONBody[RfmRunIn]
    ) -> RfmRunOut:
        """Queue a run of `kind` (default purchase) as of `asOf` (default now); it is scored in
        the background: poll the run for its status."""
        return RfmRunOut.of(await service.start_run(db_session, tenant, data))

    @get(
        "/runs",
        operation_id="listRfmRuns",
        summary="List RFM runs",
        **needs("segments:read"),
        responses=READ_ERRORS,
    )
    async def list_runs(
        self,
        db_session: DbSession,
        page: Paging,
        kind: Annotated[
            RfmKind | None, QueryParameter(description="Only runs of this kind.")
        ] = None,
    ) -> RfmRunPage:
        """Every run of the brand, in the order they were asked for."""
        items, cursor = await service.list_runs(db_session, page, kind)
        return RfmRunPage(RfmRunOut.many(items), cursor)

    @get(
        "/runs/{run_id:uuid}",
        operation_id="getRfmRun",
        summary="Read an RFM run",
        **needs("segments:read"),
        responses=READ_ERRORS,
    )
    async def get_run(self, db_session: DbSession, run_id: FromPath[UUID]) -> RfmRunOut:
        """A run: status, cut points used, counts of scored and changed profiles, error."""
        return RfmRunOut.of(await service.get_run(db_session, run_id))

    @get(
        "/scores",
        operation_id="listRfmScores",
        summary="List RFM scores",
        **needs("segments:read"),
        responses=READ_ERRORS,
    )
    async def list_scores(
        self,
        db_session: DbSession,
        page: Paging,
        kind: Annotated[
            RfmKind, QueryParameter(description="Default purchase.")
        ] = RfmKind.PURCHASE,
        run_id: Annotated[
            UUID | None,
            QueryParameter(name="runId", description="A run (default: the current run of kind)."),
        ] = None,
        segment: Annotated[str | None, QueryParameter(description="Only this segment.")] = None,
    ) -> RfmScorePage:
        """The scores of one run in profile order: by default the current (latest succeeded)
        run of `kind`."""
        items, cursor = await service.list_scores(
            db_session, page, kind=kind, run_id=run_id, segment=segment
        )
        return RfmScorePage(RfmScoreOut.many(items), cursor)


class ProfileRfmController(BrandController):
    """A profile's RFM scores (a merged profile's id answers 308 to the survivor's)."""

    path = "/v1/brands/{brand_id:uuid}/profiles/{profile_id:uuid}/rfm"
    tags = ["rfm"]

    @get(
        "/",
        operation_id="getProfileRfm",
        summary="A profile's RFM scores",
        **needs("segments:read"),
        responses=PROFILE_READ_ERRORS,
    )
    async def profile_rfm(self, db_session: DbSession, profile_id: FromPath[UUID]) -> ProfileRfmOut:
        """The profile's current purchase and engagement scores and its score in every run,
        newest first; a merged profile's id answers 308 to the survivor's."""
        found = await service.profile_scores(db_session, profile_id)
        return ProfileRfmOut.of_profile(found)
