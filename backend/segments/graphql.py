"""GraphQL types, queries and mutations of segments (the same services as REST). Expected
failures of mutations are `OperationError` members of their result union; an invalid definition
names its first bad node (`/and/2/value`) in the error's detail."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, cast

import msgspec
import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from backend.auth.caller import Access
from backend.auth.context import GraphQLContext
from backend.core.errors import NotFound
from backend.core.graphql_results import Deleted, OperationError, attempt, parse_id
from backend.core.pagination import PageRequest
from backend.core.schemas import parse_input
from backend.segments import membership, service
from backend.segments.models import (
    EvaluationCause,
    Segment,
    SegmentKind,
    SegmentMember,
    SegmentSize,
    SegmentTransition,
    TransitionKind,
)
from backend.segments.schemas import MembersUpload, PreviewIn, SegmentCreate, SegmentUpdate

Ctx = Info[GraphQLContext, None]
READ, WRITE = "segments:read", "segments:write"
SegmentKindEnum = strawberry.enum(SegmentKind, name="SegmentKind")
TransitionKindEnum = strawberry.enum(TransitionKind, name="SegmentTransitionKind")
EvaluationCauseEnum = strawberry.enum(EvaluationCause, name="SegmentEvaluationCause")


@strawberry.type(name="Segment", description="A named target: rules or a static list.")
class SegmentType:
    id: strawberry.ID
    key: str
    name: str
    description: str | None
    kind: SegmentKindEnum  # type: ignore[valid-type]
    definition: JSON | None = strawberry.field(description="The rule tree, as in REST.")
    refresh_every_minutes: int | None
    next_refresh_at: dt.datetime | None
    member_count: int
    last_evaluated_at: dt.datetime | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, segment: Segment) -> SegmentType:
        return cls(
            id=strawberry.ID(str(segment.id)),
            key=segment.key,
            name=segment.name,
            description=segment.description,
            kind=segment.kind,
            definition=cast(JSON, segment.definition),
            refresh_every_minutes=segment.refresh_every_minutes,
            next_refresh_at=segment.next_refresh_at,
            member_count=segment.member_count,
            last_evaluated_at=segment.last_evaluated_at,
            version=segment.version,
            created_at=segment.created_at,
            updated_at=segment.updated_at,
        )


@strawberry.type(name="SegmentMember")
class SegmentMemberType:
    profile_id: strawberry.ID
    entered_at: dt.datetime

    @classmethod
    def of(cls, member: SegmentMember) -> SegmentMemberType:
        return cls(profile_id=strawberry.ID(str(member.profile_id)), entered_at=member.entered_at)


@strawberry.type(name="SegmentTransition", description="A profile entering or leaving a segment.")
class SegmentTransitionType:
    id: strawberry.ID
    segment_id: strawberry.ID
    profile_id: strawberry.ID
    kind: TransitionKindEnum  # type: ignore[valid-type]
    occurred_at: dt.datetime
    evaluation_id: strawberry.ID

    @classmethod
    def of(cls, t: SegmentTransition) -> SegmentTransitionType:
        return cls(
            id=strawberry.ID(str(t.id)),
            segment_id=strawberry.ID(str(t.segment_id)),
            profile_id=strawberry.ID(str(t.profile_id)),
            kind=t.kind,
            occurred_at=t.occurred_at,
            evaluation_id=strawberry.ID(str(t.evaluation_id)),
        )


@strawberry.type(name="SegmentSize", description="The size at one full evaluation.")
class SegmentSizeType:
    evaluation_id: strawberry.ID
    measured_at: dt.datetime
    size: int
    entered: int
    exited: int
    cause: EvaluationCauseEnum  # type: ignore[valid-type]

    @classmethod
    def of(cls, s: SegmentSize) -> SegmentSizeType:
        return cls(
            evaluation_id=strawberry.ID(str(s.id)),
            measured_at=s.measured_at,
            size=s.size,
            entered=s.entered,
            exited=s.exited,
            cause=s.cause,
        )


@strawberry.type(name="SegmentPreview")
class SegmentPreviewType:
    count: int
    sample_profile_ids: list[strawberry.ID]


@strawberry.type(name="SegmentMembership", description="A segment a profile is in.")
class SegmentMembershipType:
    segment: SegmentType
    entered_at: dt.datetime


@strawberry.type(name="ProfileSegments")
class ProfileSegmentsType:
    memberships: list[SegmentMembershipType]
    transitions: list[SegmentTransitionType]
    next_cursor: str | None


@strawberry.type(name="SegmentPage")
class SegmentPageType:
    items: list[SegmentType]
    next_cursor: str | None


@strawberry.type(name="SegmentMemberPage")
class SegmentMemberPageType:
    items: list[SegmentMemberType]
    next_cursor: str | None


@strawberry.type(name="SegmentTransitionPage")
class SegmentTransitionPageType:
    items: list[SegmentTransitionType]
    next_cursor: str | None


@strawberry.type(name="SegmentSizePage")
class SegmentSizePageType:
    items: list[SegmentSizeType]
    next_cursor: str | None


@strawberry.type(name="SegmentEvaluation", description="A queued evaluation.")
class SegmentEvaluationType:
    evaluation_id: strawberry.ID
    segment_id: strawberry.ID


@strawberry.type(name="SegmentUpload", description="What a static upload changed.")
class SegmentUploadType:
    segment: SegmentType
    entered: int
    exited: int
    unknown_profile_ids: list[strawberry.ID]
    unknown_keys: list[str]


@strawberry.input
class SegmentInput:
    key: str
    name: str
    kind: SegmentKindEnum = SegmentKind.RULE  # type: ignore[valid-type]
    description: str | None = None
    definition: JSON | None = None
    refresh_every_minutes: int | None = 1440


@strawberry.input(description="Fields to change; absent fields are kept.")
class SegmentPatch:
    name: str | None = None
    description: str | None = None
    definition: JSON | None = None
    refresh_every_minutes: int | None = None


@strawberry.input(description="A static list: profile ids and/or identity keys.")
class SegmentMembersInput:
    profile_ids: list[strawberry.ID] = strawberry.field(default_factory=list)
    emails: list[str] = strawberry.field(default_factory=list)
    phones: list[str] = strawberry.field(default_factory=list)


SegmentResult = Annotated[SegmentType | OperationError, strawberry.union("SegmentResult")]
DeletedSegmentResult = Annotated[Deleted | OperationError, strawberry.union("DeletedSegmentResult")]
SegmentEvaluationResult = Annotated[
    SegmentEvaluationType | OperationError, strawberry.union("SegmentEvaluationResult")
]
SegmentUploadResult = Annotated[
    SegmentUploadType | OperationError, strawberry.union("SegmentUploadResult")
]
SegmentPreviewResult = Annotated[
    SegmentPreviewType | OperationError, strawberry.union("SegmentPreviewResult")
]


@strawberry.type
class SegmentsQuery:
    @strawberry.field(description="The brand's segments, in creation order.")
    async def segments(
        self, info: Ctx, brand: strawberry.ID, first: int = 50, after: str | None = None
    ) -> SegmentPageType:
        ctx = info.context
        tenant = ctx.require_caller().require_brand(parse_id(brand), Access.VIEWER, READ)
        page = PageRequest.parse(first, after)
        async with ctx.transaction(tenant) as session:
            items, cursor = await service.list_segments(session, page)
        return SegmentPageType(items=[SegmentType.of(s) for s in items], next_cursor=cursor)

    @strawberry.field(description="One segment (null when the brand has none with this id).")
    async def segment(
        self, info: Ctx, brand: strawberry.ID, id: strawberry.ID
    ) -> SegmentType | None:
        ctx = info.context
        tenant = ctx.require_caller().require_brand(parse_id(brand), Access.VIEWER, READ)
        async with ctx.transaction(tenant) as session:
            try:
                return SegmentType.of(await service.get_segment(session, parse_id(id)))
            except NotFound:
                return None

    @strawberry.field(description="A segment's current members (keyset pages by profile id).")
    async def segment_members(
        self,
        info: Ctx,
        brand: strawberry.ID,
        id: strawberry.ID,
        first: int = 50,
        after: str | None = None,
    ) -> SegmentMemberPageType:
        ctx = info.context
        tenant = ctx.require_caller().require_brand(parse_id(brand), Access.VIEWER, READ)
        page = PageRequest.parse(first, after)
        async with ctx.transaction(tenant) as session:
            items, cursor = await service.list_members(session, parse_id(id), page)
        return SegmentMemberPageType(
            items=[SegmentMemberType.of(m) for m in items], next_cursor=cursor
        )

    @strawberry.field(description="A segment's entries and exits in the order recorded.")
    async def segment_transitions(
        self,
        info: Ctx,
        brand: strawberry.ID,
        id: strawberry.ID,
        first: int = 50,
        after: str | None = None,
        kind: TransitionKindEnum | None = None,  # type: ignore[valid-type]
        since: dt.datetime | None = None,
    ) -> SegmentTransitionPageType:
        ctx = info.context
        tenant = ctx.require_caller().require_brand(parse_id(brand), Access.VIEWER, READ)
        page = PageRequest.parse(first, after)
        async with ctx.transaction(tenant) as session:
            items, cursor = await service.list_transitions(
                session, parse_id(id), page, kind=kind, since=since
            )
        return SegmentTransitionPageType(
            items=[SegmentTransitionType.of(t) for t in items], next_cursor=cursor
        )

    @strawberry.field(description="A segment's size at each full evaluation, oldest first.")
    async def segment_sizes(
        self,
        info: Ctx,
        brand: strawberry.ID,
        id: strawberry.ID,
        first: int = 50,
        after: str | None = None,
    ) -> SegmentSizePageType:
        ctx = info.context
        tenant = ctx.require_caller().require_brand(parse_id(brand), Access.VIEWER, READ)
        page = PageRequest.parse(first, after)
        async with ctx.transaction(tenant) as session:
            items, cursor = await service.list_sizes(session, parse_id(id), page)
        return SegmentSizePageType(items=[SegmentSizeType.of(s) for s in items], next_cursor=cursor)

    @strawberry.field(description="Count an unsaved definition, with the first 20 profile ids.")
    async def segment_preview(
        self, info: Ctx, brand: strawberry.ID, definition: JSON
    ) -> SegmentPreviewResult:
        ctx = info.context

        async def run() -> SegmentPreviewType:
            tenant = ctx.require_caller().require_brand(parse_id(brand), Access.VIEWER, READ)
            data = parse_input(PreviewIn, definition=definition)
            async with ctx.transaction(tenant) as session:
                count, sample = await service.preview(session, tenant, data)
            return SegmentPreviewType(
                count=count, sample_profile_ids=[strawberry.ID(str(p.id)) for p in sample]
            )

        return await attempt(run)

    @strawberry.field(description="A profile's segments and its entries and exits.")
    async def profile_segments(
        self,
        info: Ctx,
        brand: strawberry.ID,
        profile_id: strawberry.ID,
        first: int = 50,
        after: str | None = None,
    ) -> ProfileSegmentsType:
        ctx = info.context
        tenant = ctx.require_caller().require_brand(parse_id(brand), Access.VIEWER, READ)
        page = PageRequest.parse(first, after)
        async with ctx.transaction(tenant) as session:
            memberships, transitions, cursor = await service.profile_segments(
                session, parse_id(profile_id), page
            )
        return ProfileSegmentsType(
            memberships=[
                SegmentMembershipType(segment=SegmentType.of(s), entered_at=m.entered_at)
                for m, s in memberships
            ],
            transitions=[SegmentTransitionType.of(t) for t in transitions],
            next_cursor=cursor,
        )


def _given(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


@strawberry.type
class SegmentsMutation:
    @strawberry.mutation(description="Define a segment (rules are validated, then evaluated).")
    async def create_segment(
        self, info: Ctx, brand: strawberry.ID, input: SegmentInput
    ) -> SegmentResult:
        ctx = info.context

        async def run() -> SegmentType:
            tenant = ctx.require_caller().require_brand(parse_id(brand), Access.MANAGER, WRITE)
            data = parse_input(SegmentCreate, **vars(input))
            if input.refresh_every_minutes is None:  # null: never on a schedule
                data = msgspec.structs.replace(data, refresh_every_minutes=None)
            async with ctx.transaction(tenant) as session:
                segment = await service.create_segment(session, tenant, data)
            return SegmentType.of(segment)

        return await attempt(run)

    @strawberry.mutation(description="Change a segment; a new definition is re-evaluated.")
    async def update_segment(
        self, info: Ctx, brand: strawberry.ID, id: strawberry.ID, input: SegmentPatch
    ) -> SegmentResult:
        ctx = info.context

        async def run() -> SegmentType:
            tenant = ctx.require_caller().require_brand(parse_id(brand), Access.MANAGER, WRITE)
            data = parse_input(SegmentUpdate, **_given(vars(input)))
            async with ctx.transaction(tenant) as session:
                segment = await service.update_segment(session, tenant, parse_id(id), data)
            return SegmentType.of(segment)

        return await attempt(run)

    @strawberry.mutation(description="Delete a segment with its members and history.")
    async def delete_segment(
        self, info: Ctx, brand: strawberry.ID, id: strawberry.ID
    ) -> DeletedSegmentResult:
        ctx = info.context

        async def run() -> Deleted:
            tenant = ctx.require_caller().require_brand(parse_id(brand), Access.MANAGER, WRITE)
            async with ctx.transaction(tenant) as session:
                await service.delete_segment(session, parse_id(id))
            return Deleted(id=id)

        return await attempt(run)

    @strawberry.mutation(description="Queue a full evaluation of a segment.")
    async def evaluate_segment(
        self, info: Ctx, brand: strawberry.ID, id: strawberry.ID
    ) -> SegmentEvaluationResult:
        ctx = info.context

        async def run() -> SegmentEvaluationType:
            tenant = ctx.require_caller().require_brand(parse_id(brand), Access.MANAGER, WRITE)
            async with ctx.transaction(tenant) as session:
                evaluation_id = await service.evaluate_later(session, tenant, parse_id(id))
            return SegmentEvaluationType(
                evaluation_id=strawberry.ID(str(evaluation_id)), segment_id=id
            )

        return await attempt(run)

    @strawberry.mutation(
        description="Add profiles to a static segment, or with `replace` make them its members."
    )
    async def upload_segment_members(
        self,
        info: Ctx,
        brand: strawberry.ID,
        id: strawberry.ID,
        input: SegmentMembersInput,
        replace: bool = False,
    ) -> SegmentUploadResult:
        ctx = info.context

        async def run() -> SegmentUploadType:
            tenant = ctx.require_caller().require_brand(parse_id(brand), Access.MANAGER, WRITE)
            data = parse_input(MembersUpload, **_given(vars(input)))
            async with ctx.transaction(tenant) as session:
                result = await membership.upload_members(
                    session, tenant, parse_id(id), data, replace=replace
                )
                segment = await service.get_segment(session, parse_id(id))
            return SegmentUploadType(
                segment=SegmentType.of(segment),
                entered=result.outcome.entered,
                exited=result.outcome.exited,
                unknown_profile_ids=[strawberry.ID(str(i)) for i in result.unknown_profile_ids],
                unknown_keys=result.unknown_keys,
            )

        return await attempt(run)
