"""GraphQL of segments: the REST shapes (derived from `backend.segments.schemas`) and the same
services. Expected failures of mutations are the `OperationError` member of their result union;
an invalid definition names its first bad node (`/and/2/value`) in the error's detail."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.scalars import JSON

from backend.core.graphql_entities import entity_type, graphql_enum, input_type, struct_of
from backend.core.graphql_fields import BrandUnit, brand_mutation, brand_query
from backend.core.graphql_results import Deleted, parse_id
from backend.core.relay import Connection, Node
from backend.segments import membership, service
from backend.segments.models import EvaluationCause, SegmentKind, TransitionKind
from backend.segments.schemas import (
    EvaluationQueued,
    ExternalKey,
    MembershipOut,
    MembersUpload,
    PreviewIn,
    PreviewOut,
    ProfileSegmentsOut,
    ProfileSummary,
    SegmentCreate,
    SegmentMemberOut,
    SegmentOut,
    SegmentUpdate,
    SizeOut,
    TransitionOut,
    UploadOut,
)

READ, WRITE = "segments:read", "segments:write"
graphql_enum(SegmentKind)
graphql_enum(TransitionKind, "SegmentTransitionKind")
graphql_enum(EvaluationCause, "SegmentEvaluationCause")


async def _load_segment(session: AsyncSession, segment_id: UUID) -> SegmentOut:
    return SegmentOut.of(await service.get_segment(session, segment_id))


@entity_type(SegmentOut, name="Segment", node=(READ, _load_segment))
class SegmentType(Node):
    """A named target: rules or a static list."""

    definition: JSON | None = strawberry.field(description="The rule tree, as in REST.")


@entity_type(SegmentMemberOut, name="SegmentMember")
class SegmentMemberType:
    pass


@entity_type(TransitionOut, name="SegmentTransition")
class SegmentTransitionType:
    pass


@entity_type(SizeOut, name="SegmentSize")
class SegmentSizeType:
    pass


@entity_type(ProfileSummary, name="SegmentProfileSummary")
class SegmentProfileSummaryType:
    pass


@entity_type(PreviewOut, name="SegmentPreview")
class SegmentPreviewType:
    pass


@entity_type(MembershipOut, name="SegmentMembership")
class SegmentMembershipType:
    pass


@entity_type(ProfileSegmentsOut, name="ProfileSegments")
class ProfileSegmentsType:
    pass


@entity_type(EvaluationQueued, name="SegmentEvaluation")
class SegmentEvaluationType:
    pass


@entity_type(UploadOut, name="SegmentUpload")
class SegmentUploadType:
    pass


@input_type(SegmentCreate, name="CreateSegmentInput")
class CreateSegmentInput:
    pass


@input_type(SegmentUpdate, name="UpdateSegmentInput")
class UpdateSegmentInput:
    id: strawberry.ID


@input_type(PreviewIn, name="PreviewSegmentInput")
class PreviewSegmentInput:
    pass


@input_type(ExternalKey, name="SegmentExternalKeyInput")
class SegmentExternalKeyInput:
    pass


@input_type(MembersUpload, name="SegmentMembersInput")
class SegmentMembersInput:
    id: strawberry.ID = strawberry.field(description="The static segment.")


@strawberry.input(description="Names one segment.")
class SegmentIdInput:
    id: strawberry.ID


@strawberry.type
class SegmentsQuery:
    @brand_query(READ)
    async def segments(
        self, unit: BrandUnit, first: int = 50, after: str | None = None
    ) -> Connection[SegmentType]:
        """The brand's segments, in creation order."""
        page = unit.page(first, after)
        items, cursor = await service.list_segments(unit.session, page)
        return unit.connection(SegmentOut.many(items), cursor, page, count=service.count_segments)

    @brand_query(READ, missing_is_null=True)
    async def segment(self, unit: BrandUnit, id: strawberry.ID) -> SegmentType | None:
        """One segment (null when the brand has none with this id)."""
        return await _load_segment(unit.session, parse_id(id, "Segment"))

    @brand_query(READ)
    async def segment_members(
        self, unit: BrandUnit, id: strawberry.ID, first: int = 50, after: str | None = None
    ) -> Connection[SegmentMemberType]:
        """A segment's current members (keyset pages by profile id)."""
        page = unit.page(first, after)
        items, cursor = await service.list_members(unit.session, parse_id(id, "Segment"), page)
        return unit.connection(
            SegmentMemberOut.many(items), cursor, page, key=lambda m: m.profile_id
        )

    @brand_query(READ)
    async def segment_transitions(
        self,
        unit: BrandUnit,
        id: strawberry.ID,
        first: int = 50,
        after: str | None = None,
        kind: TransitionKind | None = None,
        since: dt.datetime | None = None,
    ) -> Connection[SegmentTransitionType]:
        """A segment's entries and exits in the order recorded."""
        page = unit.page(first, after)
        items, cursor = await service.list_transitions(
            unit.session, parse_id(id, "Segment"), page, kind=kind, since=since
        )
        return unit.connection(TransitionOut.many(items), cursor, page)

    @brand_query(READ)
    async def segment_sizes(
        self, unit: BrandUnit, id: strawberry.ID, first: int = 50, after: str | None = None
    ) -> Connection[SegmentSizeType]:
        """A segment's size at each full evaluation, oldest first."""
        page = unit.page(first, after)
        items, cursor = await service.list_sizes(unit.session, parse_id(id, "Segment"), page)
        return unit.connection(SizeOut.many(items), cursor, page, key=lambda s: s.evaluation_id)

    @brand_query(READ)
    async def preview_segment(
        self, unit: BrandUnit, input: PreviewSegmentInput
    ) -> SegmentPreviewType:
        """Count an unsaved definition, with its first 20 profiles."""
        count, sample = await service.preview(
            unit.session, unit.tenant, struct_of(PreviewIn, input)
        )
        return PreviewOut(count=count, sample=ProfileSummary.many(sample))

    @brand_query(READ)
    async def profile_segments(
        self, unit: BrandUnit, profile_id: strawberry.ID, first: int = 50, after: str | None = None
    ) -> ProfileSegmentsType:
        """A profile's segments and its entries and exits (keyset pages of transitions)."""
        memberships, transitions, cursor = await service.profile_segments(
            unit.session, parse_id(profile_id, "Profile"), unit.page(first, after)
        )
        return ProfileSegmentsOut.of_profile(memberships, transitions, cursor)


@strawberry.type
class SegmentsMutation:
    @brand_mutation(WRITE)
    async def create_segment(self, unit: BrandUnit, input: CreateSegmentInput) -> SegmentType:
        """Define a segment (rules are validated, then evaluated)."""
        data = struct_of(SegmentCreate, input)
        return SegmentOut.of(await service.create_segment(unit.session, unit.tenant, data))

    @brand_mutation(WRITE)
    async def update_segment(self, unit: BrandUnit, input: UpdateSegmentInput) -> SegmentType:
        """Change a segment; a new definition is re-evaluated."""
        segment = await service.update_segment(
            unit.session,
            unit.tenant,
            parse_id(input.id, "Segment"),
            struct_of(SegmentUpdate, input),
        )
        return SegmentOut.of(segment)

    @brand_mutation(WRITE)
    async def delete_segment(self, unit: BrandUnit, input: SegmentIdInput) -> Deleted:
        """Delete a segment with its members and history."""
        await service.delete_segment(unit.session, parse_id(input.id, "Segment"))
        return Deleted(id=input.id)

    @brand_mutation(WRITE)
    async def evaluate_segment(
        self, unit: BrandUnit, input: SegmentIdInput
    ) -> SegmentEvaluationType:
        """Queue a full evaluation of a segment."""
        segment_id = parse_id(input.id, "Segment")
        evaluation_id = await service.evaluate_later(unit.session, unit.tenant, segment_id)
        return EvaluationQueued(evaluation_id=evaluation_id, segment_id=segment_id)

    @brand_mutation(WRITE)
    async def add_segment_members(
        self, unit: BrandUnit, input: SegmentMembersInput
    ) -> SegmentUploadType:
        """Add profiles to a static segment (by id or external key)."""
        return await _upload_members(unit, input, replace=False)

    @brand_mutation(WRITE)
    async def replace_segment_members(
        self, unit: BrandUnit, input: SegmentMembersInput
    ) -> SegmentUploadType:
        """Make the listed profiles a static segment's only members (the others exit)."""
        return await _upload_members(unit, input, replace=True)


async def _upload_members(
    unit: BrandUnit, input: SegmentMembersInput, *, replace: bool
) -> UploadOut:
    segment_id = parse_id(input.id, "Segment")
    result = await membership.upload_members(
        unit.session, unit.tenant, segment_id, struct_of(MembersUpload, input), replace=replace
    )
    return UploadOut.of_upload(result, await service.get_segment(unit.session, segment_id))
