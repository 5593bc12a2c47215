"""REST routes for segments under ``/v1/brands/{brand_id}``: the brand guard answers 404 for a
brand out of reach (and a segment of another brand is not found either); reads need
`segments:read`, writes `segments:write`."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from uuid import UUID

from litestar import delete, get, patch, post, put
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from backend.auth.scopes import needs
from backend.core.access import Access
from backend.core.api import (
    BRAND_ACCESS_OPT,
    PROFILE_READ_ERRORS,
    READ_ERRORS,
    WRITE_ERRORS,
    BrandController,
)
from backend.core.dependencies import DbSession, Paging, Tenant
from backend.segments import membership, service
from backend.segments.models import TransitionKind
from backend.segments.schemas import (
    EvaluationQueued,
    MembersUpload,
    PreviewIn,
    PreviewOut,
    ProfileSegmentsOut,
    ProfileSummary,
    SegmentCreate,
    SegmentMemberOut,
    SegmentMemberPage,
    SegmentOut,
    SegmentPage,
    SegmentUpdate,
    SizeOut,
    SizePage,
    TransitionOut,
    TransitionPage,
    UploadOut,
)


class SegmentController(BrandController):
    """The brand's segments: rule definitions and static lists, and their materialised members."""

    path = "/v1/brands/{brand_id:uuid}/segments"
    tags = ["segments"]

    @get(
        "/",
        operation_id="listSegments",
        summary="List segments",
        **needs("segments:read"),
        responses=READ_ERRORS,
    )
    async def list_segments(self, db_session: DbSession, page: Paging) -> SegmentPage:
        """The brand's segments, in creation order."""
        items, cursor = await service.list_segments(db_session, page)
        return SegmentPage(SegmentOut.many(items), cursor)

    @post(
        "/",
        operation_id="createSegment",
        summary="Define a segment",
        **needs("segments:write"),
        status_code=HTTP_201_CREATED,
        responses=WRITE_ERRORS,
    )
    async def create_segment(
        self, db_session: DbSession, tenant: Tenant, data: JSONBody[SegmentCreate]
    ) -> SegmentOut:
        """Define a rule segment (its `definition` is validated against the brand's schema: a
        422 names the bad node with a JSON pointer such as `/and/2/value`) or a static one. A
        rule segment is queued for its first evaluation."""
        return SegmentOut.of(await service.create_segment(db_session, tenant, data))

    @post(
        "/preview",
        operation_id="previewSegment",
        summary="Count an unsaved definition",
        **needs("segments:read", opt={BRAND_ACCESS_OPT: Access.VIEWER}),
        status_code=200,
        responses=READ_ERRORS,
    )
    async def preview(
        self, db_session: DbSession, tenant: Tenant, data: JSONBody[PreviewIn]
    ) -> PreviewOut:
        """How many profiles a definition holds for now, and the first 20 of them."""
        count, sample = await service.preview(db_session, tenant, data)
        return PreviewOut(count=count, sample=ProfileSummary.many(sample))

    @get(
        "/{segment_id:uuid}",
        operation_id="getSegment",
        summary="Read a segment",
        **needs("segments:read"),
        responses=READ_ERRORS,
    )
    async def get_segment(self, db_session: DbSession, segment_id: FromPath[UUID]) -> SegmentOut:
        """One segment, with its current member count."""
        return SegmentOut.of(await service.get_segment(db_session, segment_id))

    @patch(
        "/{segment_id:uuid}",
        operation_id="updateSegment",
        summary="Change a segment",
        **needs("segments:write"),
        responses=WRITE_ERRORS,
    )
    async def update_segment(
        self,
        db_session: DbSession,
        tenant: Tenant,
        segment_id: FromPath[UUID],
        data: JSONBody[SegmentUpdate],
    ) -> SegmentOut:
        """Change the name, description, refresh interval or definition (then re-evaluated)."""
        return SegmentOut.of(await service.update_segment(db_session, tenant, segment_id, data))

    @delete(
        "/{segment_id:uuid}",
        operation_id="deleteSegment",
        summary="Delete a segment",
        **needs("segments:write"),
        status_code=HTTP_204_NO_CONTENT,
        responses=WRITE_ERRORS,
    )
    async def delete_segment(self, db_session: DbSession, segment_id: FromPath[UUID]) -> None:
        """Delete the segment with its members, transitions and sizes (409 while another
        segment references it)."""
        await service.delete_segment(db_session, segment_id)

    @post(
        "/{segment_id:uuid}/evaluate",
        operation_id="evaluateSegment",
        summary="Evaluate a segment now",
        **needs("segments:write"),
        status_code=HTTP_202_ACCEPTED,
        responses=WRITE_ERRORS,
    )
    async def evaluate(
        self, db_session: DbSession, tenant: Tenant, segment_id: FromPath[UUID]
    ) -> EvaluationQueued:
        """Queue a full evaluation: entries and exits are recorded and a sizes row written."""
        evaluation_id = await service.evaluate_later(db_session, tenant, segment_id)
        return EvaluationQueued(evaluation_id=evaluation_id, segment_id=segment_id)

    @get(
        "/{segment_id:uuid}/members",
        operation_id="listSegmentMembers",
        summary="List a segment's members",
        **needs("segments:read"),
        responses=READ_ERRORS,
    )
    async def list_members(
        self, db_session: DbSession, page: Paging, segment_id: FromPath[UUID]
    ) -> SegmentMemberPage:
        """The current members (keyset pages by profile id), with when each entered."""
        items, cursor = await service.list_members(db_session, segment_id, page)
        return SegmentMemberPage(SegmentMemberOut.many(items), cursor)

    async def _upload(
        self,
        db_session: DbSession,
        tenant: Tenant,
        segment_id: UUID,
        data: MembersUpload,
        replace: bool,
    ) -> UploadOut:
        result = await membership.upload_members(
            db_session, tenant, segment_id, data, replace=replace
        )
        segment = await service.get_segment(db_session, segment_id)
        return UploadOut.of_upload(result, segment)

    @post(
        "/{segment_id:uuid}/members",
        operation_id="addSegmentMembers",
        summary="Add members to a static segment",
        **needs("segments:write"),
        status_code=200,
        responses=WRITE_ERRORS,
    )
    async def add_members(
        self,
        db_session: DbSession,
        tenant: Tenant,
        segment_id: FromPath[UUID],
        data: JSONBody[MembersUpload],
    ) -> UploadOut:
        """Add profiles (by id, email, phone or external id) to a static segment; ids and keys
        naming no profile are reported, not added."""
        return await self._upload(db_session, tenant, segment_id, data, False)

    @put(
        "/{segment_id:uuid}/members",
        operation_id="replaceSegmentMembers",
        summary="Replace a static segment's members",
        **needs("segments:write"),
        responses=WRITE_ERRORS,
    )
    async def replace_members(
        self,
        db_session: DbSession,
        tenant: Tenant,
        segment_id: FromPath[UUID],
        data: JSONBody[MembersUpload],
    ) -> UploadOut:
        """Make the listed profiles a static segment's only members (the others exit)."""
        return await self._upload(db_session, tenant, segment_id, data, True)

    @get(
        "/{segment_id:uuid}/transitions",
        operation_id="listSegmentTransitions",
        summary="List a segment's entries and exits",
        **needs("segments:read"),
        responses=READ_ERRORS,
    )
    async def list_transitions(
        self,
        db_session: DbSession,
        page: Paging,
        segment_id: FromPath[UUID],
        kind: Annotated[
            TransitionKind | None, QueryParameter(description="entered or exited")
        ] = None,
        since: Annotated[
            dt.datetime | None, QueryParameter(description="Inclusive (ISO 8601 with offset).")
        ] = None,
    ) -> TransitionPage:
        """Every entry and exit, in the order recorded (keyset pages)."""
        items, cursor = await service.list_transitions(
            db_session, segment_id, page, kind=kind, since=since
        )
        return TransitionPage(TransitionOut.many(items), cursor)

    @get(
        "/{segment_id:uuid}/sizes",
        operation_id="listSegmentSizes",
        summary="List a segment's size history",
        **needs("segments:read"),
        responses=READ_ERRORS,
    )
    async def list_sizes(
        self, db_session: DbSession, page: Paging, segment_id: FromPath[UUID]
    ) -> SizePage:
        """The size, entries and exits of each full evaluation, oldest first (for charts)."""
        items, cursor = await service.list_sizes(db_session, segment_id, page)
        return SizePage(SizeOut.many(items), cursor)


class ProfileSegmentsController(BrandController):
    """A profile's segments."""

    path = "/v1/brands/{brand_id:uuid}/profiles/{profile_id:uuid}"
    tags = ["segments"]

    @get(
        "/segments",
        operation_id="listProfileSegments",
        summary="List a profile's segments and transitions",
        **needs("segments:read"),
        responses=PROFILE_READ_ERRORS,
    )
    async def profile_segments(
        self, db_session: DbSession, page: Paging, profile_id: FromPath[UUID]
    ) -> ProfileSegmentsOut:
        """The segments the profile is in (since when), and its entries and exits in the order
        recorded (keyset pages); a merged profile's id answers 308 to the survivor's."""
        memberships, transitions, cursor = await service.profile_segments(
            db_session, profile_id, page
        )
        return ProfileSegmentsOut.of_profile(memberships, transitions, cursor)
