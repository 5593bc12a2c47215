"""GraphQL of agencies, brands, members, brand roles and brand settings: the REST shapes (derived
from `backend.tenancy.schemas`) and the same services. Agency fields take the `agency` argument,
brand fields the `brand` argument; lists are connections; a mutation's expected failures are the
`OperationError` member of its result union."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast
from uuid import UUID

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from backend.auth.context import GraphQLContext, caller_in
from backend.core.access import Access
from backend.core.errors import NotFound
from backend.core.graphql_entities import entity_type, graphql_enum, input_type, struct_of
from backend.core.graphql_fields import (
    AgencyUnit,
    BrandUnit,
    CallerUnit,
    agency_mutation,
    agency_query,
    brand_mutation,
    brand_query,
    brand_unit,
    caller_mutation,
    caller_query,
    register_caller_node,
)
from backend.core.graphql_results import Deleted, parse_id
from backend.core.relay import Connection, Node
from backend.core.tenancy import TenantId
from backend.tenancy import repository, service
from backend.tenancy.models import Agency, AgencyRole, BrandRole, BrandStatus
from backend.tenancy.schemas import (
    AgencyCreate,
    AgencyMemberOut,
    AgencyOut,
    AgencyUpdate,
    BrandCreate,
    BrandOut,
    BrandSettingsOut,
    BrandSettingsUpdate,
    BrandUpdate,
    GrantCreate,
    GrantOut,
    MemberCreate,
    MemberUpdate,
)

Ctx = Info[GraphQLContext, None]
READ_AGENCIES, WRITE_AGENCIES = "agencies:read", "agencies:write"
READ_BRANDS, WRITE_BRANDS = "brands:read", "brands:write"

graphql_enum(AgencyRole)
graphql_enum(BrandRole)
graphql_enum(BrandStatus)


async def _load_agency(unit: CallerUnit, agency_id: UUID) -> AgencyOut:
    return AgencyOut.of(await service.get_agency(unit.session, caller_in(unit), agency_id))


async def _load_brand(unit: CallerUnit, brand_id: UUID) -> BrandOut:
    """A brand the caller reaches (not found otherwise: its existence is not confirmed)."""
    if brand_id not in unit.caller.brand_access:
        raise NotFound("brand not found")
    return BrandOut.of(await service.get_brand(unit.session, TenantId(brand_id)))


register_caller_node("Agency", READ_AGENCIES, _load_agency)
register_caller_node("Brand", READ_BRANDS, _load_brand)


async def _agencies_by_id(ctx: GraphQLContext, ids: Sequence[UUID]) -> list[Agency | None]:
    async with ctx.reading() as session:
        found = {a.id: a for a in await repository.agencies_by_ids(session, ids)}
    return [found.get(i) for i in ids]


@entity_type(BrandSettingsOut, name="BrandSettings")
class BrandSettingsType:
    """Sender, quiet hours and commercial pressure defaults of a brand."""


@entity_type(BrandOut, name="Brand")
class BrandType(Node):
    """A brand: a tenant of an agency."""

    @strawberry.field(description="The agency that owns this brand.")
    async def agency(self, info: Ctx) -> AgencyType | None:
        ctx = info.context
        loader: DataLoader[UUID, Agency | None] = ctx.loader(
            "tenancy.agency", lambda ids: _agencies_by_id(ctx, ids)
        )
        agency = await loader.load(cast(BrandOut, self).agency_id)
        return AgencyOut.of(agency) if agency else None

    @strawberry.field(
        description="Sender, quiet hours and pressure defaults (null while provisioning)."
    )
    async def settings(self, info: Ctx) -> BrandSettingsType | None:
        async with brand_unit(info.context, cast(BrandOut, self).id, READ_BRANDS) as unit:
            row = await repository.get_settings(unit.session)
        return BrandSettingsOut.of(row) if row else None


@entity_type(AgencyOut, name="Agency")
class AgencyType(Node):
    """An agency: it owns brands, and its members hold roles on it and on its brands."""

    @caller_query(READ_BRANDS)
    async def brands(
        self, unit: CallerUnit, first: int = 50, after: str | None = None
    ) -> Connection[BrandType]:
        """The agency's brands that the caller may reach."""
        return await _agency_brands(unit, cast(AgencyOut, self).id, first, after)


@entity_type(AgencyMemberOut, name="AgencyMember")
class AgencyMemberType:
    """A member of an agency, with their agency role."""


@entity_type(GrantOut, name="BrandGrant")
class BrandGrantType:
    """A brand role granted to a member of the brand's agency."""


async def _agencies(unit: CallerUnit, first: int, after: str | None) -> Connection[AgencyType]:
    page = unit.page(first, after)
    items, cursor = await service.list_agencies(unit.session, caller_in(unit), page)
    return unit.connection(AgencyOut.many(items), cursor, page)


async def _brands(unit: CallerUnit, first: int, after: str | None) -> Connection[BrandType]:
    page = unit.page(first, after)
    items, cursor = await service.list_brands(unit.session, caller_in(unit), page)
    return unit.connection(BrandOut.many(items), cursor, page)


async def _agency_brands(
    unit: CallerUnit, agency_id: UUID, first: int, after: str | None
) -> Connection[BrandType]:
    page = unit.page(first, after)
    items, cursor = await service.list_brands(
        unit.session, caller_in(unit), page, agency_id=agency_id
    )
    return unit.connection(BrandOut.many(items), cursor, page)


@strawberry.type(description="Who is calling: a signed-in user, or an OAuth client on its own.")
class Viewer:
    id: strawberry.ID = strawberry.field(description="The user's id, or the client's.")
    email: str | None = strawberry.field(description="The user's email; null for a client.")
    client_id: strawberry.ID | None = strawberry.field(
        description="The OAuth client the token was issued to, if any."
    )
    scopes: list[str] = strawberry.field(description="The scopes the token carries.")

    @caller_query(READ_AGENCIES)
    async def agencies(
        self, unit: CallerUnit, first: int = 50, after: str | None = None
    ) -> Connection[AgencyType]:
        """Agencies the caller belongs to."""
        return await _agencies(unit, first, after)

    @caller_query(READ_BRANDS)
    async def brands(
        self, unit: CallerUnit, first: int = 50, after: str | None = None
    ) -> Connection[BrandType]:
        """Every brand the caller may reach, across agencies."""
        return await _brands(unit, first, after)


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

    @caller_query(READ_AGENCIES)
    async def agencies(
        self, unit: CallerUnit, first: int = 50, after: str | None = None
    ) -> Connection[AgencyType]:
        """Agencies the caller belongs to, in creation order."""
        return await _agencies(unit, first, after)

    @agency_query(READ_AGENCIES)
    async def agency(self, unit: AgencyUnit) -> AgencyType:
        """One agency the caller belongs to."""
        return await _load_agency(unit, unit.agency_id)

    @agency_query(READ_BRANDS)
    async def agency_brands(
        self, unit: AgencyUnit, first: int = 50, after: str | None = None
    ) -> Connection[BrandType]:
        """The agency's brands that the caller may reach."""
        return await _agency_brands(unit, unit.agency_id, first, after)

    @agency_query(READ_AGENCIES, access=Access.ADMIN)
    async def agency_members(
        self, unit: AgencyUnit, first: int = 50, after: str | None = None
    ) -> Connection[AgencyMemberType]:
        """Members of the agency with their agency role (owners and admins)."""
        page = unit.page(first, after)
        rows, cursor = await service.list_members(
            unit.session, caller_in(unit), unit.agency_id, page
        )
        agency_id = unit.agency_id
        return unit.connection(
            [AgencyMemberOut.of_member(m, u) for m, u in rows],
            cursor,
            page,
            count=lambda session: repository.count_members(session, agency_id),
        )

    @caller_query(READ_BRANDS)
    async def brands(
        self, unit: CallerUnit, first: int = 50, after: str | None = None
    ) -> Connection[BrandType]:
        """Every brand the caller may reach, across agencies, in creation order."""
        return await _brands(unit, first, after)

    @caller_query(READ_BRANDS)
    async def brand(self, unit: CallerUnit, id: strawberry.ID | None = None) -> BrandType | None:
        """One brand by id, or the `Levier-Brand` header's; null if out of reach."""
        brand_id = parse_id(id, "Brand") if id else unit.context.tenant
        if brand_id is None or brand_id not in unit.caller.brand_access:
            return None
        return await _load_brand(unit, brand_id)

    @brand_query(READ_BRANDS)
    async def brand_settings(self, unit: BrandUnit) -> BrandSettingsType | None:
        """The brand's sender name, quiet hours, weekly cap and default channel (null while the
        brand is provisioning)."""
        row = await repository.get_settings(unit.session)
        return BrandSettingsOut.of(row) if row else None

    @brand_query(READ_AGENCIES, access=Access.ADMIN)
    async def brand_members(
        self, unit: BrandUnit, first: int = 50, after: str | None = None
    ) -> Connection[BrandGrantType]:
        """Brand roles granted on the brand (agency owners and admins reach it anyway)."""
        page = unit.page(first, after)
        rows, cursor = await service.list_grants(unit.session, unit.tenant, page)
        tenant = unit.tenant
        return unit.connection(
            [GrantOut.of_grant(g, u) for g, u in rows],
            cursor,
            page,
            count=lambda session: repository.count_grants(session, tenant),
        )


@input_type(AgencyCreate, name="CreateAgencyInput")
class CreateAgencyInput:
    pass


@input_type(AgencyUpdate, name="UpdateAgencyInput")
class UpdateAgencyInput:
    pass


@input_type(BrandCreate, name="CreateBrandInput")
class CreateBrandInput:
    pass


@input_type(BrandUpdate, name="UpdateBrandInput")
class UpdateBrandInput:
    pass


@input_type(BrandSettingsUpdate, name="UpdateBrandSettingsInput")
class UpdateBrandSettingsInput:
    pass


@input_type(MemberCreate, name="AddAgencyMemberInput")
class AddAgencyMemberInput:
    pass


@input_type(MemberUpdate, name="ChangeAgencyMemberRoleInput")
class ChangeAgencyMemberRoleInput:
    user_id: strawberry.ID = strawberry.field(description="The member.")


@strawberry.input(description="Names one member of the agency.")
class RemoveAgencyMemberInput:
    user_id: strawberry.ID


@input_type(GrantCreate, name="GrantBrandRoleInput")
class GrantBrandRoleInput:
    pass


@strawberry.input(description="Names the user whose brand role goes.")
class RevokeBrandRoleInput:
    user_id: strawberry.ID


@strawberry.type
class TenancyMutation:
    @caller_mutation(WRITE_AGENCIES)
    async def create_agency(self, unit: CallerUnit, input: CreateAgencyInput) -> AgencyType:
        """Create an agency; the caller becomes its owner."""
        data = struct_of(AgencyCreate, input)
        owner = caller_in(unit).require_user()
        return AgencyOut.of(await service.create_agency(unit.session, data, owner))

    @agency_mutation(WRITE_AGENCIES)
    async def update_agency(self, unit: AgencyUnit, input: UpdateAgencyInput) -> AgencyType:
        """Rename an agency (owners and admins)."""
        data = struct_of(AgencyUpdate, input)
        agency = await service.update_agency(unit.session, caller_in(unit), unit.agency_id, data)
        return AgencyOut.of(agency)

    @agency_mutation(WRITE_BRANDS)
    async def create_brand(self, unit: AgencyUnit, input: CreateBrandInput) -> BrandType:
        """Create a brand in the agency (owners and admins). It starts `provisioning`; a
        background job creates its default settings and makes it `active`."""
        data = struct_of(BrandCreate, input)
        brand = await service.create_brand(unit.session, caller_in(unit), unit.agency_id, data)
        return BrandOut.of(brand)

    @brand_mutation(WRITE_BRANDS, access=Access.ADMIN)
    async def update_brand(self, unit: BrandUnit, input: UpdateBrandInput) -> BrandType:
        """Rename a brand or change its time zone or locale (agency owners and admins)."""
        data = struct_of(BrandUpdate, input)
        return BrandOut.of(await service.update_brand(unit.session, unit.tenant, data))

    @brand_mutation(WRITE_BRANDS, access=Access.ADMIN)
    async def delete_brand(self, unit: BrandUnit) -> Deleted:
        """Delete the brand; every row of its data goes with it."""
        await service.delete_brand(unit.session, unit.tenant)
        return Deleted(id=strawberry.ID(str(unit.tenant)))

    @brand_mutation(WRITE_BRANDS)
    async def update_brand_settings(
        self, unit: BrandUnit, input: UpdateBrandSettingsInput
    ) -> BrandSettingsType:
        """Change the brand's settings (brand managers and agency admins)."""
        data = struct_of(BrandSettingsUpdate, input)
        return BrandSettingsOut.of(await service.update_settings(unit.session, unit.tenant, data))

    @agency_mutation(WRITE_AGENCIES)
    async def add_agency_member(
        self, unit: AgencyUnit, input: AddAgencyMemberInput
    ) -> AgencyMemberType:
        """Add an existing user to the agency with a role; only owners may add owners."""
        data = struct_of(MemberCreate, input)
        member, user = await service.add_member_by_email(
            unit.session, caller_in(unit), unit.agency_id, data.email, data.role
        )
        return AgencyMemberOut.of_member(member, user)

    @agency_mutation(WRITE_AGENCIES)
    async def change_agency_member_role(
        self, unit: AgencyUnit, input: ChangeAgencyMemberRoleInput
    ) -> AgencyMemberType:
        """Change a member's role; an agency always keeps one owner."""
        data = struct_of(MemberUpdate, input)
        member, user = await service.change_member_role(
            unit.session, caller_in(unit), unit.agency_id, parse_id(input.user_id), data.role
        )
        return AgencyMemberOut.of_member(member, user)

    @agency_mutation(WRITE_AGENCIES)
    async def remove_agency_member(
        self, unit: AgencyUnit, input: RemoveAgencyMemberInput
    ) -> Deleted:
        """Remove a member (and with it their brand roles in the agency's brands)."""
        user_id = parse_id(input.user_id)
        await service.remove_member(unit.session, caller_in(unit), unit.agency_id, user_id)
        return Deleted(id=strawberry.ID(str(user_id)))

    @brand_mutation(WRITE_AGENCIES, access=Access.ADMIN)
    async def grant_brand_role(self, unit: BrandUnit, input: GrantBrandRoleInput) -> BrandGrantType:
        """Grant (or change) a brand role for a member of the brand's agency."""
        data = struct_of(GrantCreate, input)
        grant, user = await service.grant_brand_role_by_email(
            unit.session, unit.tenant, data.email, data.role
        )
        return GrantOut.of_grant(grant, user)

    @brand_mutation(WRITE_AGENCIES, access=Access.ADMIN)
    async def revoke_brand_role(self, unit: BrandUnit, input: RevokeBrandRoleInput) -> Deleted:
        """Take a user's role on the brand away."""
        user_id = parse_id(input.user_id)
        await service.revoke_brand_role(unit.session, unit.tenant, user_id)
        return Deleted(id=strawberry.ID(str(user_id)))
