"""GraphQL types, queries and mutations of the tenancy domain."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, TypeVar
from uuid import UUID

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from backend.auth.context import GraphQLContext
from backend.core.access import Access
from backend.core.graphql_results import Deleted, OperationError, attempt, parse_id
from backend.core.pagination import PageRequest
from backend.core.schemas import parse_input
from backend.tenancy import repository, service
from backend.tenancy.models import Agency, AgencyRole, Brand, BrandRole, BrandSettings, BrandStatus
from backend.tenancy.schemas import (
    AgencyCreate,
    AgencyUpdate,
    BrandCreate,
    BrandSettingsUpdate,
    BrandUpdate,
)

Ctx = Info[GraphQLContext, None]
T = TypeVar("T")

AgencyRoleEnum = strawberry.enum(AgencyRole, name="AgencyRole")
BrandRoleEnum = strawberry.enum(BrandRole, name="BrandRole")
BrandStatusEnum = strawberry.enum(BrandStatus, name="BrandStatus")


async def _agencies_by_id(ctx: GraphQLContext, ids: Sequence[UUID]) -> list[Agency | None]:
    async with ctx.reading() as session:
        found = {a.id: a for a in await repository.agencies_by_ids(session, ids)}
    return [found.get(i) for i in ids]


@strawberry.type(name="BrandSettings")
class BrandSettingsType:
    sender_name: str
    quiet_hours_start: str
    quiet_hours_end: str
    max_messages_per_week: int
    default_channel: str
    updated_at: dt.datetime

    @classmethod
    def of(cls, row: BrandSettings) -> BrandSettingsType:
        return cls(
            sender_name=row.sender_name,
            quiet_hours_start=row.quiet_hours_start,
            quiet_hours_end=row.quiet_hours_end,
            max_messages_per_week=row.max_messages_per_week,
            default_channel=row.default_channel,
            updated_at=row.updated_at,
        )


@strawberry.type(name="Brand")
class BrandType:
    id: strawberry.ID
    agency_id: strawberry.ID
    name: str
    status: BrandStatusEnum  # type: ignore[valid-type]
    time_zone: str
    locale: str
    created_at: dt.datetime
    provisioned_at: dt.datetime | None

    @classmethod
    def of(cls, brand: Brand) -> BrandType:
        return cls(
            id=strawberry.ID(str(brand.id)),
            agency_id=strawberry.ID(str(brand.agency_id)),
            name=brand.name,
            status=brand.status,
            time_zone=brand.time_zone,
            locale=brand.locale,
            created_at=brand.created_at,
            provisioned_at=brand.provisioned_at,
        )

    @strawberry.field(description="The agency that owns this brand.")
    async def agency(self, info: Ctx) -> AgencyType | None:
        ctx = info.context
        loader: DataLoader[UUID, Agency | None] = ctx.loader(
            "tenancy.agency", lambda ids: _agencies_by_id(ctx, ids)
        )
        agency = await loader.load(UUID(self.agency_id))
        return AgencyType.of(agency) if agency else None

    @strawberry.field(
        description="Sender, quiet hours and pressure defaults (null while provisioning)."
    )
    async def settings(self, info: Ctx) -> BrandSettingsType | None:
        ctx = info.context
        tenant = ctx.require_caller().require_brand(UUID(self.id), scope="brands:read")
        async with ctx.transaction(tenant) as session:
            row = await repository.get_settings(session)
        return BrandSettingsType.of(row) if row else None


@strawberry.type(name="Agency")
class AgencyType:
    id: strawberry.ID
    name: str
    created_at: dt.datetime

    @classmethod
    def of(cls, agency: Agency) -> AgencyType:
        return cls(id=strawberry.ID(str(agency.id)), name=agency.name, created_at=agency.created_at)

    @strawberry.field(description="The agency's brands that the caller may reach.")
    async def brands(self, info: Ctx) -> list[BrandType]:
        ctx = info.context
        visible = ctx.require_caller().brand_ids

        async def load(agency_ids: Sequence[UUID]) -> list[list[Brand]]:
            async with ctx.reading() as session:
                rows = await repository.brands_by_agency(session, agency_ids, visible)
            return [[b for b in rows if b.agency_id == a] for a in agency_ids]

        brands = await ctx.loader("tenancy.brands_by_agency", load).load(UUID(self.id))
        return [BrandType.of(b) for b in brands]


@strawberry.type(description="Who is calling: a signed-in user, or an OAuth client on its own.")
class Viewer:
    id: strawberry.ID = strawberry.field(description="The user's id, or the client's.")
    email: str | None = strawberry.field(description="The user's email; null for a client.")
    client_id: strawberry.ID | None = strawberry.field(
        description="The OAuth client the token was issued to, if any."
    )
    scopes: list[str] = strawberry.field(description="The scopes the token carries.")

    @strawberry.field(description="Agencies the caller belongs to.")
    async def agencies(self, info: Ctx) -> list[AgencyType]:
        return await _all_agencies(info)

    @strawberry.field(description="Every brand the caller may reach, across agencies.")
    async def brands(self, info: Ctx) -> list[BrandType]:
        return await _all_brands(info)


async def _all_pages(
    fetch: Callable[[PageRequest], Awaitable[tuple[list[T], str | None]]],
) -> list[T]:
    # GraphQL lists here are bounded by what one caller may reach: walk the keyset pages.
    items: list[T] = []
    page = PageRequest(limit=200)
    while True:
        batch, cursor = await fetch(page)
        items.extend(batch)
        if cursor is None:
            return items
        page = PageRequest.parse(200, cursor)


async def _all_agencies(info: Ctx) -> list[AgencyType]:
    ctx = info.context
    caller = ctx.require_caller("agencies:read")
    async with ctx.reading() as session:
        rows = await _all_pages(lambda page: service.list_agencies(session, caller, page))
    return [AgencyType.of(a) for a in rows]


async def _all_brands(info: Ctx) -> list[BrandType]:
    ctx = info.context
    caller = ctx.require_caller("brands:read")
    async with ctx.reading() as session:
        rows = await _all_pages(lambda page: service.list_brands(session, caller, page))
    return [BrandType.of(b) for b in rows]


@strawberry.type
class TenancyQuery:
    @strawberry.field(description="The signed-in caller.")
    def viewer(self, info: Ctx) -> Viewer:
        caller = info.context.require_caller()
        return Viewer(
            id=strawberry.ID(str(caller.user_id or caller.client_id)),
            email=caller.email,
            client_id=strawberry.ID(str(caller.client_id)) if caller.client_id else None,
            scopes=sorted(caller.scopes),
        )

    @strawberry.field(description="Agencies the caller belongs to.")
    async def agencies(self, info: Ctx) -> list[AgencyType]:
        return await _all_agencies(info)

    @strawberry.field(description="Brands the caller may reach.")
    async def brands(self, info: Ctx) -> list[BrandType]:
        return await _all_brands(info)

    @strawberry.field(
        description="One brand by id, or the `Levier-Brand` header's; null if out of reach."
    )
    async def brand(self, info: Ctx, id: strawberry.ID | None = None) -> BrandType | None:
        ctx = info.context
        caller = ctx.require_caller("brands:read")
        brand_id = parse_id(id) if id else ctx.tenant
        if brand_id is None or brand_id not in caller.brand_access:
            return None
        async with ctx.reading() as session:
            brand = await repository.get_brand(session, brand_id)
        return BrandType.of(brand) if brand else None


@strawberry.input
class BrandInput:
    name: str
    time_zone: str = "UTC"
    locale: str = "en"


@strawberry.input
class BrandPatch:
    name: str | None = None
    time_zone: str | None = None
    locale: str | None = None


@strawberry.input
class BrandSettingsPatch:
    sender_name: str | None = None
    quiet_hours_start: str | None = None
    quiet_hours_end: str | None = None
    max_messages_per_week: int | None = None
    default_channel: str | None = None


@strawberry.type
class AgencyMember:
    user_id: strawberry.ID
    email: str
    role: AgencyRoleEnum  # type: ignore[valid-type]


@strawberry.type
class BrandGrant:
    user_id: strawberry.ID
    email: str
    role: BrandRoleEnum  # type: ignore[valid-type]


AgencyResult = Annotated[AgencyType | OperationError, strawberry.union("AgencyResult")]
BrandResult = Annotated[BrandType | OperationError, strawberry.union("BrandResult")]
SettingsResult = Annotated[
    BrandSettingsType | OperationError, strawberry.union("BrandSettingsResult")
]
MemberResult = Annotated[AgencyMember | OperationError, strawberry.union("AgencyMemberResult")]
GrantResult = Annotated[BrandGrant | OperationError, strawberry.union("BrandGrantResult")]
DeleteResult = Annotated[Deleted | OperationError, strawberry.union("DeleteResult")]


@strawberry.type
class TenancyMutation:
    @strawberry.mutation(description="Create an agency; the caller becomes its owner.")
    async def create_agency(self, info: Ctx, name: str) -> AgencyResult:
        ctx = info.context

        async def run() -> AgencyType:
            caller = ctx.require_caller("agencies:write")
            data = parse_input(AgencyCreate, name=name)
            async with ctx.transaction() as session:
                return AgencyType.of(
                    await service.create_agency(session, data, caller.require_user())
                )

        return await attempt(run)

    @strawberry.mutation(description="Rename an agency (owners and admins).")
    async def update_agency(self, info: Ctx, id: strawberry.ID, name: str) -> AgencyResult:
        ctx = info.context

        async def run() -> AgencyType:
            data = parse_input(AgencyUpdate, name=name)
            async with ctx.transaction() as session:
                agency = await service.update_agency(
                    session, ctx.require_caller("agencies:write"), parse_id(id), data
                )
            return AgencyType.of(agency)

        return await attempt(run)

    @strawberry.mutation(description="Create a brand in an agency (owners and admins).")
    async def create_brand(
        self, info: Ctx, agency_id: strawberry.ID, input: BrandInput
    ) -> BrandResult:
        ctx = info.context

        async def run() -> BrandType:
            data = parse_input(BrandCreate, **vars(input))
            async with ctx.transaction() as session:
                brand = await service.create_brand(
                    session, ctx.require_caller("brands:write"), parse_id(agency_id), data
                )
            return BrandType.of(brand)

        return await attempt(run)

    @strawberry.mutation(description="Rename a brand or change its time zone or locale.")
    async def update_brand(self, info: Ctx, id: strawberry.ID, input: BrandPatch) -> BrandResult:
        ctx = info.context

        async def run() -> BrandType:
            tenant = ctx.require_caller("brands:write").require_brand(
                parse_id(id), Access.ADMIN, "brands:write"
            )
            data = parse_input(BrandUpdate, **vars(input))
            async with ctx.transaction(tenant) as session:
                return BrandType.of(await service.update_brand(session, tenant, data))

        return await attempt(run)

    @strawberry.mutation(description="Delete a brand and all of its data.")
    async def delete_brand(self, info: Ctx, id: strawberry.ID) -> DeleteResult:
        ctx = info.context

        async def run() -> Deleted:
            tenant = ctx.require_caller("brands:write").require_brand(
                parse_id(id), Access.ADMIN, "brands:write"
            )
            async with ctx.transaction(tenant) as session:
                await service.delete_brand(session, tenant)
            return Deleted(id=id)

        return await attempt(run)

    @strawberry.mutation(description="Change a brand's settings (managers and admins).")
    async def update_brand_settings(
        self, info: Ctx, brand_id: strawberry.ID, input: BrandSettingsPatch
    ) -> SettingsResult:
        ctx = info.context

        async def run() -> BrandSettingsType:
            tenant = ctx.require_caller("brands:write").require_brand(
                parse_id(brand_id), Access.MANAGER, "brands:write"
            )
            data = parse_input(BrandSettingsUpdate, **vars(input))
            async with ctx.transaction(tenant) as session:
                return BrandSettingsType.of(await service.update_settings(session, tenant, data))

        return await attempt(run)

    @strawberry.mutation(description="Add an existing user to an agency with a role.")
    async def add_agency_member(
        self,
        info: Ctx,
        agency_id: strawberry.ID,
        email: str,
        role: AgencyRoleEnum,  # type: ignore[valid-type]
    ) -> MemberResult:
        ctx = info.context

        async def run() -> AgencyMember:
            async with ctx.transaction() as session:
                member, user = await service.add_member_by_email(
                    session, ctx.require_caller("agencies:write"), parse_id(agency_id), email, role
                )
            return AgencyMember(
                user_id=strawberry.ID(str(user.id)), email=user.email, role=member.role
            )

        return await attempt(run)

    @strawberry.mutation(description="Change a member's agency role.")
    async def change_agency_member_role(
        self,
        info: Ctx,
        agency_id: strawberry.ID,
        user_id: strawberry.ID,
        role: AgencyRoleEnum,  # type: ignore[valid-type]
    ) -> MemberResult:
        ctx = info.context

        async def run() -> AgencyMember:
            async with ctx.transaction() as session:
                member, user = await service.change_member_role(
                    session,
                    ctx.require_caller("agencies:write"),
                    parse_id(agency_id),
                    parse_id(user_id),
                    role,
                )
            return AgencyMember(user_id=user_id, email=user.email, role=member.role)

        return await attempt(run)

    @strawberry.mutation(description="Remove a member from an agency.")
    async def remove_agency_member(
        self, info: Ctx, agency_id: strawberry.ID, user_id: strawberry.ID
    ) -> DeleteResult:
        ctx = info.context

        async def run() -> Deleted:
            async with ctx.transaction() as session:
                await service.remove_member(
                    session,
                    ctx.require_caller("agencies:write"),
                    parse_id(agency_id),
                    parse_id(user_id),
                )
            return Deleted(id=user_id)

        return await attempt(run)

    @strawberry.mutation(description="Grant (or change) a brand role for a member of its agency.")
    async def grant_brand_role(
        self,
        info: Ctx,
        brand_id: strawberry.ID,
        email: str,
        role: BrandRoleEnum,  # type: ignore[valid-type]
    ) -> GrantResult:
        ctx = info.context

        async def run() -> BrandGrant:
            tenant = ctx.require_caller("agencies:write").require_brand(
                parse_id(brand_id), Access.ADMIN, "agencies:write"
            )
            async with ctx.transaction(tenant) as session:
                grant, user = await service.grant_brand_role_by_email(session, tenant, email, role)
            return BrandGrant(
                user_id=strawberry.ID(str(user.id)), email=user.email, role=grant.role
            )

        return await attempt(run)

    @strawberry.mutation(description="Take a user's role on a brand away.")
    async def revoke_brand_role(
        self, info: Ctx, brand_id: strawberry.ID, user_id: strawberry.ID
    ) -> DeleteResult:
        ctx = info.context

        async def run() -> Deleted:
            tenant = ctx.require_caller("agencies:write").require_brand(
                parse_id(brand_id), Access.ADMIN, "agencies:write"
            )
            async with ctx.transaction(tenant) as session:
                await service.revoke_brand_role(session, tenant, parse_id(user_id))
            return Deleted(id=user_id)

        return await attempt(run)
