"""GraphQL of profiles, their attributes, consents, orders and merges: the REST shapes (derived
from `backend.profiles.schemas`) and the same services. A profile's consents, last order, linked
rows and events load through per-request dataloaders, so a page of profiles with them costs a
constant number of queries. A merged profile id names its survivor everywhere."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar
from uuid import UUID

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.scalars import JSON
from strawberry.types import Info

from backend.auth.context import GraphQLContext
from backend.core.access import Access
from backend.core.errors import NotFound
from backend.core.graphql_entities import entity_type, graphql_enum, input_type, struct_of
from backend.core.graphql_fields import BrandUnit, brand_mutation, brand_query
from backend.core.graphql_results import Deleted, parse_id
from backend.core.relay import Connection, Node
from backend.core.tenancy import TenantId
from backend.events import graphql as events_graphql
from backend.profiles import attributes, consents, orders, service
from backend.profiles.linked import graphql as linked_graphql
from backend.profiles.models import (
    Channel,
    ConsentChange,
    ConsentState,
)
from backend.profiles.orders import OrderView
from backend.profiles.schemas import (
    AttributeCreate,
    AttributeOut,
    AttributeUpdate,
    ConsentChangeIn,
    ConsentOut,
    ConsentsOut,
    Contactability,
    ExternalId,
    MergeOut,
    MergeRequest,
    OrderIn,
    OrderLineIn,
    OrderLineOut,
    OrderOut,
    ProfileCreate,
    ProfileOut,
    ProfileUpdate,
    TopicCreate,
    TopicOut,
    TopicUpdate,
    WriteMode,
)

Ctx = Info[GraphQLContext, None]
T = TypeVar("T")

READ, WRITE = "profiles:read", "profiles:write"
graphql_enum(Channel)
graphql_enum(ConsentState)
graphql_enum(WriteMode, "ProfileWriteMode")


class ProfileRead(ProfileOut):
    """A profile as GraphQL holds it: its REST shape and the brand it belongs to, on which its
    own fields (consents, last order, linked rows, events) load."""

    tenant_id: UUID


def _brand_of(info: Ctx, profile: ProfileRead) -> TenantId:
    """The profile's brand, through the caller's grants (the profile was read on it)."""
    return info.context.require_caller().require_brand(profile.tenant_id, Access.VIEWER, READ)


async def _profile_id(session: AsyncSession, value: strawberry.ID) -> UUID:
    """The profile an id argument names now: itself, or the survivor it was merged into."""
    profile_id = parse_id(value, "Profile")
    return await service.survivor_of(session, profile_id) or profile_id


def _consents_loader(
    ctx: GraphQLContext, tenant: TenantId
) -> Callable[[Sequence[UUID]], Awaitable[list[list[ConsentChange]]]]:
    async def load(profile_ids: Sequence[UUID]) -> list[list[ConsentChange]]:
        async with ctx.transaction(tenant) as session:
            found = await consents.current_of_many(session, profile_ids)
        return [found.get(i, []) for i in profile_ids]

    return load


async def _current_consents(ctx: GraphQLContext, tenant: TenantId, profile_id: UUID) -> Any:
    loader = ctx.loader(f"profiles.consents:{tenant}", _consents_loader(ctx, tenant))
    return await loader.load(profile_id)


def _last_order_loader(
    ctx: GraphQLContext, tenant: TenantId
) -> Callable[[Sequence[UUID]], Awaitable[list[OrderView | None]]]:
    async def load(profile_ids: Sequence[UUID]) -> list[OrderView | None]:
        async with ctx.transaction(tenant) as session:
            found = await orders.last_orders(session, profile_ids)
        return [found.get(i) for i in profile_ids]

    return load


@entity_type(OrderLineOut, name="OrderLine")
class OrderLineType:
    pass


@entity_type(OrderOut, name="Order")
class OrderType:
    """An order (transaction) of a profile, with its lines."""


@entity_type(
    ConsentOut,
    name="Consent",
    description="One consent change; among a profile's `consents`, the current state of one "
    "channel or topic. A null `channel` means every channel (a global unsubscribe).",
)
class ConsentType:
    pass


@entity_type(Contactability, name="ChannelContactability")
class ContactabilityType:
    pass


@entity_type(ConsentsOut, name="ProfileConsents")
class ProfileConsentsType:
    pass


@entity_type(MergeOut, name="ProfileMerge")
class ProfileMergeType:
    """A profile merged into another."""


@entity_type(ExternalId, name="ExternalId")
class ExternalIdType:
    pass


async def _load_profile(session: AsyncSession, profile_id: UUID) -> ProfileRead:
    """The profile, or the survivor of a merged id."""
    survivor = await service.survivor_of(session, profile_id)
    if survivor is None:
        raise NotFound("profile not found")
    return ProfileRead.of(await service.view(session, await service.get_profile(session, survivor)))


async def _attribute(session: AsyncSession, attribute_id: UUID) -> AttributeOut:
    return AttributeOut.of(await attributes.get_attribute(session, attribute_id))


async def _topic(session: AsyncSession, topic_id: UUID) -> TopicOut:
    return TopicOut.of(await consents.get_topic(session, topic_id))


@entity_type(ProfileOut, name="Profile", node=(READ, _load_profile))
class ProfileType(Node):
    """One person known to the brand (the unique customer reference)."""

    @strawberry.field(description="Current consent per channel and topic (the latest change).")
    async def consents(self, info: Ctx, root: strawberry.Parent[ProfileRead]) -> list[ConsentType]:
        current = await _current_consents(info.context, _brand_of(info, root), root.id)
        return ConsentOut.many(current)

    @strawberry.field(description="The latest order (by when it occurred), with its lines.")
    async def last_order(self, info: Ctx, root: strawberry.Parent[ProfileRead]) -> OrderType | None:
        ctx, tenant = info.context, _brand_of(info, root)
        loader = ctx.loader(f"profiles.last_order:{tenant}", _last_order_loader(ctx, tenant))
        view = await loader.load(root.id)
        return OrderOut.of(view) if view is not None else None

    @strawberry.field(
        description="The profile's rows in the linked table `table` (its key), oldest first; "
        "none for an unknown table."
    )
    async def linked_rows(
        self, info: Ctx, table: str, root: strawberry.Parent[ProfileRead]
    ) -> list[linked_graphql.LinkedRowType]:
        return await linked_graphql.profile_linked_rows(
            info.context, _brand_of(info, root), root.id, table
        )

    @strawberry.field(description="The latest events of the profile, newest first (events:read).")
    async def events(
        self, info: Ctx, root: strawberry.Parent[ProfileRead], last: int = 20
    ) -> list[events_graphql.EventType]:
        return await events_graphql.events_of_profile(
            info.context, _brand_of(info, root), root.id, last
        )

    @strawberry.field(description="Whether each channel may be used now, and why not.")
    async def contactability(
        self, info: Ctx, root: strawberry.Parent[ProfileRead]
    ) -> list[ContactabilityType]:
        current = await _current_consents(info.context, _brand_of(info, root), root.id)
        return consents.contactability(root, current)


@entity_type(AttributeOut, name="ProfileAttribute", node=(READ, _attribute))
class ProfileAttributeType(Node):
    """A typed attribute the brand defined on its profiles."""

    default: JSON | None = strawberry.field(description="The value a new profile gets.")


@entity_type(TopicOut, name="ConsentTopic", node=(READ, _topic))
class ConsentTopicType(Node):
    """A subscription topic of the brand (newsletter, offers…)."""


# Inputs ----------------------------------------------------------------------------------------


@input_type(ExternalId, name="ExternalIdInput")
class ExternalIdInput:
    pass


@input_type(ConsentChangeIn, name="ConsentChangeInput")
class ConsentChangeInput:
    pass


@input_type(ProfileCreate, name="CreateProfileInput")
class CreateProfileInput:
    mode: WriteMode = strawberry.field(
        default=WriteMode.CREATE,
        description="CREATE refuses known identity keys (409); UPSERT updates the profile they "
        "point to, merging profiles when they point to several (the older survives).",
    )


@input_type(
    ProfileUpdate,
    name="UpdateProfileInput",
    description="Fields to change: absent ones are kept, null clears one; attributes merge key "
    "by key (null removes one); external ids are added.",
)
class UpdateProfileInput:
    id: strawberry.ID


@input_type(MergeRequest, name="MergeProfilesInput")
class MergeProfilesInput:
    id: strawberry.ID = strawberry.field(description="One of the two profiles.")
    other_id: strawberry.ID = strawberry.field(description="The other profile.")


@strawberry.input(description="Names one profile.")
class ProfileIdInput:
    id: strawberry.ID


@input_type(ConsentChangeIn, name="RecordProfileConsentInput")
class RecordProfileConsentInput:
    profile_id: strawberry.ID


@input_type(OrderLineIn, name="OrderLineInput")
class OrderLineInput:
    pass


@input_type(OrderIn, name="CreateProfileOrderInput")
class CreateProfileOrderInput:
    profile_id: strawberry.ID


@input_type(AttributeCreate, name="CreateProfileAttributeInput")
class CreateProfileAttributeInput:
    pass


@input_type(AttributeUpdate, name="UpdateProfileAttributeInput")
class UpdateProfileAttributeInput:
    id: strawberry.ID


@strawberry.input(description="Names one profile attribute.")
class ProfileAttributeIdInput:
    id: strawberry.ID


@input_type(TopicCreate, name="CreateConsentTopicInput")
class CreateConsentTopicInput:
    pass


@input_type(TopicUpdate, name="UpdateConsentTopicInput")
class UpdateConsentTopicInput:
    id: strawberry.ID


@strawberry.input(description="Names one consent topic.")
class ConsentTopicIdInput:
    id: strawberry.ID


# Fields ----------------------------------------------------------------------------------------


@strawberry.type
class ProfilesQuery:
    @brand_query(READ, missing_is_null=True)
    async def profile(self, unit: BrandUnit, id: strawberry.ID) -> ProfileType | None:
        """One profile; a merged id resolves to the surviving profile (null when none)."""
        return await _load_profile(unit.session, parse_id(id, "Profile"))

    @brand_query(
        READ,
        description="Profiles in creation order, filtered; `email`, `phone` and `externalId` "
        "(`source:value`) find a profile by any identity key it holds, merged-in keys included.",
    )
    async def profiles(
        self,
        unit: BrandUnit,
        first: int = 50,
        after: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        external_id: str | None = None,
        country: str | None = None,
        preferred_store: str | None = None,
        updated_since: dt.datetime | None = None,
    ) -> Connection[ProfileType]:
        page = unit.page(first, after)
        items, cursor = await service.list_profiles(
            unit.session,
            unit.tenant,
            page,
            email=email,
            phone=phone,
            external_id=external_id,
            country=country,
            preferred_store=preferred_store,
            updated_since=updated_since,
        )
        views = await service.views(unit.session, items)
        return unit.connection(ProfileRead.many(views), cursor, page)

    @brand_query(READ)
    async def profile_merges(
        self, unit: BrandUnit, profile_id: strawberry.ID, first: int = 50, after: str | None = None
    ) -> Connection[ProfileMergeType]:
        """The profiles merged into this one: when, why and by which keys."""
        page = unit.page(first, after)
        target = await _profile_id(unit.session, profile_id)
        items, cursor = await service.list_merges(unit.session, target, page)
        return unit.connection(MergeOut.many(items), cursor, page)

    @brand_query(READ)
    async def profile_consents(
        self, unit: BrandUnit, profile_id: strawberry.ID
    ) -> ProfileConsentsType:
        """The current state of each channel and topic and every channel's contactability."""
        overview = await consents.overview(
            unit.session, await _profile_id(unit.session, profile_id)
        )
        return overview

    @brand_query(READ)
    async def profile_consent_history(
        self, unit: BrandUnit, profile_id: strawberry.ID, first: int = 50, after: str | None = None
    ) -> Connection[ConsentType]:
        """Every consent change recorded for the profile, in recording order."""
        page = unit.page(first, after)
        target = await _profile_id(unit.session, profile_id)
        items, cursor = await consents.history(unit.session, target, page)
        return unit.connection(ConsentOut.many(items), cursor, page)

    @brand_query(READ)
    async def profile_orders(
        self, unit: BrandUnit, profile_id: strawberry.ID, first: int = 50, after: str | None = None
    ) -> Connection[OrderType]:
        """The profile's orders with their lines, in recording order (merged-in orders too)."""
        page = unit.page(first, after)
        target = await _profile_id(unit.session, profile_id)
        items, cursor = await orders.list_orders(unit.session, target, page)
        return unit.connection(OrderOut.many(items), cursor, page)

    @brand_query(READ)
    async def profile_attributes(
        self, unit: BrandUnit, first: int = 50, after: str | None = None
    ) -> Connection[ProfileAttributeType]:
        """The attributes the brand defined on its profiles, in creation order."""
        page = unit.page(first, after)
        items, cursor = await attributes.list_attributes(unit.session, page)
        return unit.connection(AttributeOut.many(items), cursor, page)

    @brand_query(READ, missing_is_null=True)
    async def profile_attribute(
        self, unit: BrandUnit, id: strawberry.ID
    ) -> ProfileAttributeType | None:
        """One attribute definition (null when the brand has none with this id)."""
        return await _attribute(unit.session, parse_id(id, "ProfileAttribute"))

    @brand_query(READ)
    async def consent_topics(
        self, unit: BrandUnit, first: int = 50, after: str | None = None
    ) -> Connection[ConsentTopicType]:
        """The brand's subscription topics, in creation order."""
        page = unit.page(first, after)
        items, cursor = await consents.list_topics(unit.session, page)
        return unit.connection(TopicOut.many(items), cursor, page)

    @brand_query(READ, missing_is_null=True)
    async def consent_topic(self, unit: BrandUnit, id: strawberry.ID) -> ConsentTopicType | None:
        """One topic (null when the brand has none with this id)."""
        return await _topic(unit.session, parse_id(id, "ConsentTopic"))


async def _shown(session: AsyncSession, profile: Any) -> ProfileType:
    return ProfileRead.of(await service.view(session, profile))


@strawberry.type
class ProfilesMutation:
    @brand_mutation(
        WRITE,
        description="Create a profile; with mode UPSERT update the one its identity keys point "
        "to, merging profiles when they point to several.",
    )
    async def create_profile(self, unit: BrandUnit, input: CreateProfileInput) -> ProfileType:
        data = struct_of(ProfileCreate, input)
        profile, _ = await service.create_profile(unit.session, unit.tenant, data, input.mode)
        return await _shown(unit.session, profile)

    @brand_mutation(WRITE)
    async def update_profile(self, unit: BrandUnit, input: UpdateProfileInput) -> ProfileType:
        """Change some fields of a profile (a merged id changes its survivor)."""
        data = struct_of(ProfileUpdate, input)
        target = await _profile_id(unit.session, input.id)
        profile = await service.update_profile(unit.session, unit.tenant, target, data)
        return await _shown(unit.session, profile)

    @brand_mutation(WRITE)
    async def delete_profile(self, unit: BrandUnit, input: ProfileIdInput) -> Deleted:
        """Delete the profile with its identity keys, consent history and merge redirects."""
        target = await _profile_id(unit.session, input.id)
        await service.delete_profile(unit.session, unit.tenant, target)
        return Deleted(id=input.id)

    @brand_mutation(WRITE)
    async def merge_profiles(self, unit: BrandUnit, input: MergeProfilesInput) -> ProfileType:
        """Merge two profiles; the older survives and is returned."""
        target = await _profile_id(unit.session, input.id)
        data = struct_of(MergeRequest, input, other_id=parse_id(input.other_id, "Profile"))
        profile = await service.merge_profiles(
            unit.session, unit.tenant, target, data.other_id, data.reason
        )
        return await _shown(unit.session, profile)

    @brand_mutation(
        WRITE,
        description="Record a consent change (appended to the history); without channel and "
        "topic it applies to every channel: a global unsubscribe.",
    )
    async def record_profile_consent(
        self, unit: BrandUnit, input: RecordProfileConsentInput
    ) -> ConsentType:
        data = struct_of(ConsentChangeIn, input)
        target = await _profile_id(unit.session, input.profile_id)
        return ConsentOut.of(await consents.record_change(unit.session, target, data))

    @brand_mutation(WRITE)
    async def create_profile_order(
        self, unit: BrandUnit, input: CreateProfileOrderInput
    ) -> OrderType:
        """Record an order of the profile with its lines; `orderId` is unique in the brand."""
        data = struct_of(OrderIn, input)
        target = await _profile_id(unit.session, input.profile_id)
        return OrderOut.of(await orders.create_order(unit.session, target, data))

    @brand_mutation(WRITE)
    async def create_profile_attribute(
        self, unit: BrandUnit, input: CreateProfileAttributeInput
    ) -> ProfileAttributeType:
        """Define a typed attribute (text, number, boolean, date, datetime, enum)."""
        data = struct_of(AttributeCreate, input)
        return AttributeOut.of(await attributes.create_attribute(unit.session, data))

    @brand_mutation(WRITE)
    async def update_profile_attribute(
        self, unit: BrandUnit, input: UpdateProfileAttributeInput
    ) -> ProfileAttributeType:
        """Change an attribute's label, required flag, default or enum options."""
        attribute = await attributes.update_attribute(
            unit.session,
            parse_id(input.id, "ProfileAttribute"),
            struct_of(AttributeUpdate, input),
        )
        return AttributeOut.of(attribute)

    @brand_mutation(WRITE)
    async def delete_profile_attribute(
        self, unit: BrandUnit, input: ProfileAttributeIdInput
    ) -> Deleted:
        """Delete the attribute and every profile's value of it."""
        await attributes.delete_attribute(unit.session, parse_id(input.id, "ProfileAttribute"))
        return Deleted(id=input.id)

    @brand_mutation(WRITE)
    async def create_consent_topic(
        self, unit: BrandUnit, input: CreateConsentTopicInput
    ) -> ConsentTopicType:
        """Add a topic profiles can subscribe to on a channel."""
        data = struct_of(TopicCreate, input)
        return TopicOut.of(await consents.create_topic(unit.session, data))

    @brand_mutation(WRITE)
    async def update_consent_topic(
        self, unit: BrandUnit, input: UpdateConsentTopicInput
    ) -> ConsentTopicType:
        """Change a topic's label (its key is fixed: history refers to it)."""
        topic = await consents.update_topic(
            unit.session, parse_id(input.id, "ConsentTopic"), struct_of(TopicUpdate, input)
        )
        return TopicOut.of(topic)

    @brand_mutation(WRITE)
    async def delete_consent_topic(self, unit: BrandUnit, input: ConsentTopicIdInput) -> Deleted:
        """Delete a topic that has no consent history (409 otherwise)."""
        await consents.delete_topic(unit.session, parse_id(input.id, "ConsentTopic"))
        return Deleted(id=input.id)
