"""GraphQL types, queries and mutations of profiles; consents load through a per-request
dataloader, so a page of profiles with their consents costs a constant number of queries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Annotated, Any, TypeVar, cast
from uuid import UUID

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from backend.auth.context import GraphQLContext
from backend.core.access import Access
from backend.core.graphql_results import OperationError, attempt, parse_id
from backend.core.pagination import PageRequest
from backend.core.schemas import parse_input
from backend.core.tenancy import TenantId
from backend.events import graphql as events_graphql
from backend.profiles import consents, orders, service
from backend.profiles.linked import graphql as linked_graphql
from backend.profiles.models import Channel, ConsentChange, ConsentState, Profile
from backend.profiles.orders import OrderView
from backend.profiles.schemas import (
    ConsentChangeIn,
    ProfileCreate,
    ProfileUpdate,
    WriteMode,
)
from backend.profiles.service import ProfileView

Ctx = Info[GraphQLContext, None]
T = TypeVar("T")

ChannelEnum = strawberry.enum(Channel, name="Channel")
ConsentStateEnum = strawberry.enum(ConsentState, name="ConsentState")
WriteModeEnum = strawberry.enum(WriteMode, name="ProfileWriteMode")


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


@strawberry.type(name="OrderLine")
class OrderLineType:
    product: str
    category: str | None
    quantity: Decimal
    price: Decimal


@strawberry.type(name="Order")
class OrderType:
    id: strawberry.ID
    order_id: str
    occurred_at: dt.datetime
    amount: Decimal
    currency: str
    store: str | None
    channel: str | None
    lines: list[OrderLineType]

    @classmethod
    def of(cls, view: OrderView) -> OrderType:
        o = view.order
        return cls(
            id=strawberry.ID(str(o.id)),
            order_id=o.order_id,
            occurred_at=o.occurred_at,
            amount=o.amount,
            currency=o.currency,
            store=o.store,
            channel=o.channel,
            lines=[
                OrderLineType(
                    product=line.product,
                    category=line.category,
                    quantity=line.quantity,
                    price=line.price,
                )
                for line in view.lines
            ],
        )


@strawberry.type(name="Consent", description="The current state of one channel or topic.")
class ConsentType:
    id: strawberry.ID
    channel: ChannelEnum | None = strawberry.field(  # type: ignore[valid-type]
        description="Null: every channel (a global unsubscribe or its lifting)."
    )
    topic: str | None
    state: ConsentStateEnum  # type: ignore[valid-type]
    source: str
    proof: JSON | None
    occurred_at: dt.datetime
    recorded_at: dt.datetime

    @classmethod
    def of(cls, change: ConsentChange) -> ConsentType:
        return cls(
            id=strawberry.ID(str(change.id)),
            channel=change.channel,
            topic=change.topic,
            state=change.state,
            source=change.source,
            proof=cast(JSON, change.proof),
            occurred_at=change.occurred_at,
            recorded_at=change.created_at,
        )


@strawberry.type(name="ChannelContactability")
class ContactabilityType:
    channel: ChannelEnum  # type: ignore[valid-type]
    contactable: bool
    reasons: list[str]


@strawberry.type(name="ExternalId")
class ExternalIdType:
    source: str
    id: str


@strawberry.type(name="Profile")
class ProfileType:
    id: strawberry.ID
    email: str | None
    phone: str | None
    first_name: str | None
    last_name: str | None
    birth_date: dt.date | None
    locale: str | None
    time_zone: str | None
    country: str | None
    preferred_store: str | None
    channel_appetency: ChannelEnum | None  # type: ignore[valid-type]
    attributes: JSON
    external_ids: list[ExternalIdType]
    bounced: list[str]
    suppressed: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime
    row: strawberry.Private[Profile]
    tenant: strawberry.Private[TenantId]

    @classmethod
    def of(cls, view: ProfileView, tenant: TenantId) -> ProfileType:
        p = view.profile
        return cls(
            id=strawberry.ID(str(p.id)),
            email=p.email,
            phone=p.phone,
            first_name=p.first_name,
            last_name=p.last_name,
            birth_date=p.birth_date,
            locale=p.locale,
            time_zone=p.time_zone,
            country=p.country,
            preferred_store=p.preferred_store,
            channel_appetency=p.channel_appetency,
            attributes=cast(JSON, dict(p.attributes or {})),
            external_ids=[ExternalIdType(source=e.source, id=e.id) for e in view.external_ids],
            bounced=list(p.bounced or []),
            suppressed=list(p.suppressed or []),
            created_at=p.created_at,
            updated_at=p.updated_at,
            row=p,
            tenant=tenant,
        )

    @strawberry.field(description="Current consent per channel and topic (the latest change).")
    async def consents(self, info: Ctx) -> list[ConsentType]:
        current = await _current_consents(info.context, self.tenant, self.row.id)
        return [ConsentType.of(c) for c in current]

    @strawberry.field(description="The latest order (by when it occurred), with its lines.")
    async def last_order(self, info: Ctx) -> OrderType | None:
        ctx = info.context
        loader = ctx.loader(
            f"profiles.last_order:{self.tenant}", _last_order_loader(ctx, self.tenant)
        )
        view = await loader.load(self.row.id)
        return OrderType.of(view) if view is not None else None

    @strawberry.field(
        description="The profile's rows in the linked table `table` (its key), oldest first; "
        "none for an unknown table."
    )
    async def linked_rows(self, info: Ctx, table: str) -> list[linked_graphql.LinkedRowType]:
        return await linked_graphql.profile_linked_rows(
            info.context, self.tenant, self.row.id, table
        )

    @strawberry.field(description="The latest events of the profile, newest first (events:read).")
    async def events(self, info: Ctx, last: int = 20) -> list[events_graphql.EventType]:
        return await events_graphql.events_of_profile(info.context, self.tenant, self.row.id, last)

    @strawberry.field(description="Whether each channel may be used now, and why not.")
    async def contactability(self, info: Ctx) -> list[ContactabilityType]:
        current = await _current_consents(info.context, self.tenant, self.row.id)
        return [
            ContactabilityType(channel=c.channel, contactable=c.contactable, reasons=c.reasons)
            for c in consents.contactability(self.row, current)
        ]


@strawberry.type(name="ProfilePage")
class ProfilePageType:
    items: list[ProfileType]
    next_cursor: str | None


async def _profile(ctx: GraphQLContext, tenant: TenantId, profile_id: UUID) -> ProfileType | None:
    async with ctx.transaction(tenant) as session:
        survivor = await service.survivor_of(session, profile_id)
        if survivor is None:
            return None
        view = await service.view(session, await service.get_profile(session, survivor))
    return ProfileType.of(view, tenant)


@strawberry.type
class ProfilesQuery:
    @strawberry.field(description="One profile; a merged id resolves to the surviving profile.")
    async def profile(
        self, info: Ctx, brand: strawberry.ID, id: strawberry.ID
    ) -> ProfileType | None:
        ctx = info.context
        tenant = ctx.require_caller().require_brand(parse_id(brand), Access.VIEWER, "profiles:read")
        return await _profile(ctx, tenant, parse_id(id))

    @strawberry.field(description="Profiles in creation order, filtered, in keyset pages.")
    async def profiles(
        self,
        info: Ctx,
        brand: strawberry.ID,
        first: int = 50,
        after: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        external_id: str | None = None,
        country: str | None = None,
        preferred_store: str | None = None,
    ) -> ProfilePageType:
        ctx = info.context
        tenant = ctx.require_caller().require_brand(parse_id(brand), Access.VIEWER, "profiles:read")
        page = PageRequest.parse(first, after)
        async with ctx.transaction(tenant) as session:
            items, cursor = await service.list_profiles(
                session,
                tenant,
                page,
                email=email,
                phone=phone,
                external_id=external_id,
                country=country,
                preferred_store=preferred_store,
            )
            views = await service.views(session, items)
        return ProfilePageType(items=[ProfileType.of(v, tenant) for v in views], next_cursor=cursor)


@strawberry.input
class ExternalIdInput:
    source: str
    id: str


@strawberry.input
class ProfileInput:
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    birth_date: dt.date | None = None
    locale: str | None = None
    time_zone: str | None = None
    country: str | None = None
    preferred_store: str | None = None
    channel_appetency: ChannelEnum | None = None  # type: ignore[valid-type]
    attributes: JSON | None = None
    external_ids: list[ExternalIdInput] | None = None


@strawberry.input(description="Fields to change; null or absent fields are kept.")
class ProfilePatch:
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    birth_date: dt.date | None = None
    locale: str | None = None
    time_zone: str | None = None
    country: str | None = None
    preferred_store: str | None = None
    channel_appetency: ChannelEnum | None = None  # type: ignore[valid-type]
    attributes: JSON | None = None
    external_ids: list[ExternalIdInput] | None = None


@strawberry.input
class ConsentInput:
    state: ConsentStateEnum  # type: ignore[valid-type]
    source: str
    channel: ChannelEnum | None = None  # type: ignore[valid-type]
    topic: str | None = None
    proof: JSON | None = None
    occurred_at: dt.datetime | None = None


ProfileResult = Annotated[ProfileType | OperationError, strawberry.union("ProfileResult")]
ConsentResult = Annotated[ConsentType | OperationError, strawberry.union("ConsentResult")]


def _values(input: object) -> dict[str, Any]:
    values = dict(vars(input))
    if values.get("external_ids") is not None:
        values["external_ids"] = [vars(e) for e in values["external_ids"]]
    return values


@strawberry.type
class ProfilesMutation:
    @strawberry.mutation(
        description="Create a profile; with mode UPSERT update the one its identity keys "
        "point to, merging profiles when they point to several."
    )
    async def create_profile(
        self,
        info: Ctx,
        brand: strawberry.ID,
        input: ProfileInput,
        mode: WriteModeEnum = WriteMode.CREATE,  # type: ignore[valid-type]
    ) -> ProfileResult:
        ctx = info.context

        async def run() -> ProfileType:
            tenant = ctx.require_caller().require_brand(
                parse_id(brand), Access.MANAGER, "profiles:write"
            )
            data = parse_input(ProfileCreate, **_values(input))
            async with ctx.transaction(tenant) as session:
                profile, _ = await service.create_profile(session, tenant, data, mode)
                view = await service.view(session, profile)
            return ProfileType.of(view, tenant)

        return await attempt(run)

    @strawberry.mutation(description="Change some fields of a profile.")
    async def update_profile(
        self, info: Ctx, brand: strawberry.ID, id: strawberry.ID, input: ProfilePatch
    ) -> ProfileResult:
        ctx = info.context

        async def run() -> ProfileType:
            tenant = ctx.require_caller().require_brand(
                parse_id(brand), Access.MANAGER, "profiles:write"
            )
            data = parse_input(ProfileUpdate, **_values(input))
            async with ctx.transaction(tenant) as session:
                target = await service.survivor_of(session, parse_id(id)) or parse_id(id)
                profile = await service.update_profile(session, tenant, target, data)
                view = await service.view(session, profile)
            return ProfileType.of(view, tenant)

        return await attempt(run)

    @strawberry.mutation(description="Merge two profiles; the older survives and is returned.")
    async def merge_profiles(
        self,
        info: Ctx,
        brand: strawberry.ID,
        id: strawberry.ID,
        other_id: strawberry.ID,
        reason: str = "explicit",
    ) -> ProfileResult:
        ctx = info.context

        async def run() -> ProfileType:
            tenant = ctx.require_caller().require_brand(
                parse_id(brand), Access.MANAGER, "profiles:write"
            )
            async with ctx.transaction(tenant) as session:
                target = await service.survivor_of(session, parse_id(id)) or parse_id(id)
                profile = await service.merge_profiles(
                    session, tenant, target, parse_id(other_id), reason
                )
                view = await service.view(session, profile)
            return ProfileType.of(view, tenant)

        return await attempt(run)

    @strawberry.mutation(description="Record a consent change (appended to the history).")
    async def set_consent(
        self, info: Ctx, brand: strawberry.ID, profile_id: strawberry.ID, input: ConsentInput
    ) -> ConsentResult:
        ctx = info.context

        async def run() -> ConsentType:
            tenant = ctx.require_caller().require_brand(
                parse_id(brand), Access.MANAGER, "profiles:write"
            )
            data = parse_input(ConsentChangeIn, **vars(input))
            async with ctx.transaction(tenant) as session:
                target = await service.survivor_of(session, parse_id(profile_id)) or parse_id(
                    profile_id
                )
                change = await consents.record_change(session, target, data)
            return ConsentType.of(change)

        return await attempt(run)
