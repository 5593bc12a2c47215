"""REST routes for agencies, brands, memberships, brand grants and brand settings."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, delete, get, patch, post
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from backend.auth.guards import (
    AGENCY_ACCESS_OPT,
    agency_guard,
    caller_of,
    requires_caller,
)
from backend.auth.scopes import needs
from backend.core.access import Access
from backend.core.api import BRAND_ACCESS_OPT, READ_ERRORS, WRITE_ERRORS
from backend.core.api import BrandController as BrandScoped
from backend.core.dependencies import DbSession, Paging, Tenant
from backend.core.errors import problem_responses
from backend.tenancy import service
from backend.tenancy.schemas import (
    AgencyCreate,
    AgencyMemberOut,
    AgencyMemberPage,
    AgencyOut,
    AgencyPage,
    AgencyUpdate,
    BrandCreate,
    BrandOut,
    BrandPage,
    BrandSettingsOut,
    BrandSettingsUpdate,
    BrandUpdate,
    GrantCreate,
    GrantOut,
    GrantPage,
    MemberCreate,
    MemberUpdate,
)


class AgencyController(Controller):
    path = "/v1/agencies"
    tags = ["agencies"]
    guards = [requires_caller]

    @post(
        "/",
        operation_id="createAgency",
        **needs("agencies:write"),
        summary="Create an agency",
        responses=WRITE_ERRORS,
    )
    async def create_agency(
        self, request: Request[Any, Any, Any], db_session: DbSession, data: JSONBody[AgencyCreate]
    ) -> AgencyOut:
        """Create an agency; the caller becomes its owner."""
        agency = await service.create_agency(db_session, data, caller_of(request).require_user())
        return AgencyOut.of(agency)

    @get(
        "/",
        operation_id="listAgencies",
        **needs("agencies:read"),
        summary="List my agencies",
        responses=READ_ERRORS,
    )
    async def list_agencies(
        self, request: Request[Any, Any, Any], db_session: DbSession, page: Paging
    ) -> AgencyPage:
        """The agencies the caller belongs to, in creation order."""
        items, cursor = await service.list_agencies(db_session, caller_of(request), page)
        return AgencyPage(AgencyOut.many(items), cursor)

    @get(
        "/{agency_id:uuid}",
        operation_id="getAgency",
        **needs("agencies:read"),
        summary="Read an agency",
        guards=[agency_guard],
        responses=READ_ERRORS,
    )
    async def get_agency(
        self, request: Request[Any, Any, Any], db_session: DbSession, agency_id: FromPath[UUID]
    ) -> AgencyOut:
        """One agency the caller belongs to."""
        return AgencyOut.of(await service.get_agency(db_session, caller_of(request), agency_id))

    @patch(
        "/{agency_id:uuid}",
        operation_id="updateAgency",
        summary="Rename an agency",
        guards=[agency_guard],
        **needs("agencies:write", opt={AGENCY_ACCESS_OPT: Access.ADMIN}),
        responses=WRITE_ERRORS,
    )
    async def update_agency(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        agency_id: FromPath[UUID],
        data: JSONBody[AgencyUpdate],
    ) -> AgencyOut:
        """Change an agency's name (agency owners and admins)."""
        agency = await service.update_agency(db_session, caller_of(request), agency_id, data)
        return AgencyOut.of(agency)

    @get(
        "/{agency_id:uuid}/brands",
        operation_id="listAgencyBrands",
        **needs("brands:read"),
        summary="List an agency's brands",
        guards=[agency_guard],
        responses=READ_ERRORS,
    )
    async def list_agency_brands(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        agency_id: FromPath[UUID],
        page: Paging,
    ) -> BrandPage:
        """The agency's brands that the caller may reach."""
        items, cursor = await service.list_brands(
            db_session, caller_of(request), page, agency_id=agency_id
        )
        return BrandPage(BrandOut.many(items), cursor)

    @post(
        "/{agency_id:uuid}/brands",
        operation_id="createBrand",
        summary="Create a brand",
        guards=[agency_guard],
        **needs("brands:write", opt={AGENCY_ACCESS_OPT: Access.ADMIN}),
        status_code=HTTP_201_CREATED,
        responses=WRITE_ERRORS,
    )
    async def create_brand(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        agency_id: FromPath[UUID],
        data: JSONBody[BrandCreate],
    ) -> BrandOut:
        """Create a brand (a tenant). It starts `provisioning`; a background job creates its
        default settings and makes it `active`."""
        brand = await service.create_brand(db_session, caller_of(request), agency_id, data)
        return BrandOut.of(brand)

    @get(
        "/{agency_id:uuid}/members",
        operation_id="listAgencyMembers",
        summary="List an agency's members",
        guards=[agency_guard],
        **needs("agencies:read", opt={AGENCY_ACCESS_OPT: Access.ADMIN}),
        responses=problem_responses(401, 403, 404, 422),
    )
    async def list_members(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        agency_id: FromPath[UUID],
        page: Paging,
    ) -> AgencyMemberPage:
        """Members of the agency with their agency role."""
        rows, cursor = await service.list_members(db_session, caller_of(request), agency_id, page)
        return AgencyMemberPage([AgencyMemberOut.of_member(m, u) for m, u in rows], cursor)

    @post(
        "/{agency_id:uuid}/members",
        operation_id="addAgencyMember",
        summary="Add a member to an agency",
        guards=[agency_guard],
        **needs("agencies:write", opt={AGENCY_ACCESS_OPT: Access.ADMIN}),
        status_code=HTTP_201_CREATED,
        responses=WRITE_ERRORS,
    )
    async def add_member(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        agency_id: FromPath[UUID],
        data: JSONBody[MemberCreate],
    ) -> AgencyMemberOut:
        """Add an existing user to the agency with a role; only owners may add owners."""
        member, user = await service.add_member_by_email(
            db_session, caller_of(request), agency_id, data.email, data.role
        )
        return AgencyMemberOut.of_member(member, user)

    @patch(
        "/{agency_id:uuid}/members/{user_id:uuid}",
        operation_id="changeAgencyMemberRole",
        summary="Change a member's agency role",
        guards=[agency_guard],
        **needs("agencies:write", opt={AGENCY_ACCESS_OPT: Access.ADMIN}),
        responses=WRITE_ERRORS,
    )
    async def change_member_role(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        agency_id: FromPath[UUID],
        user_id: FromPath[UUID],
        data: JSONBody[MemberUpdate],
    ) -> AgencyMemberOut:
        """Change a member's role; an agency always keeps one owner."""
        member, user = await service.change_member_role(
            db_session, caller_of(request), agency_id, user_id, data.role
        )
        return AgencyMemberOut.of_member(member, user)

    @delete(
        "/{agency_id:uuid}/members/{user_id:uuid}",
        operation_id="removeAgencyMember",
        summary="Remove a member from an agency",
        guards=[agency_guard],
        **needs("agencies:write", opt={AGENCY_ACCESS_OPT: Access.ADMIN}),
        status_code=HTTP_204_NO_CONTENT,
        responses=WRITE_ERRORS,
    )
    async def remove_member(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        agency_id: FromPath[UUID],
        user_id: FromPath[UUID],
    ) -> None:
        """Remove a member (and with it their brand roles in this agency's brands)."""
        await service.remove_member(db_session, caller_of(request), agency_id, user_id)


class BrandListController(Controller):
    path = "/v1/brands"
    tags = ["brands"]
    guards = [requires_caller]

    @get(
        "/",
        operation_id="listBrands",
        **needs("brands:read"),
        summary="List my brands",
        responses=READ_ERRORS,
    )
    async def list_brands(
        self, request: Request[Any, Any, Any], db_session: DbSession, page: Paging
    ) -> BrandPage:
        """Every brand the caller may reach, across agencies."""
        items, cursor = await service.list_brands(db_session, caller_of(request), page)
        return BrandPage(BrandOut.many(items), cursor)


class BrandController(BrandScoped):
    """Everything under ``/v1/brands/{brand_id}``: the brand guard answers 404 first."""

    path = "/v1/brands/{brand_id:uuid}"
    tags = ["brands"]

    @get(
        "/",
        operation_id="getBrand",
        **needs("brands:read"),
        summary="Read a brand",
        responses=READ_ERRORS,
    )
    async def get_brand(self, db_session: DbSession, tenant: Tenant) -> BrandOut:
        """One brand the caller may reach."""
        return BrandOut.of(await service.get_brand(db_session, tenant))

    @patch(
        "/",
        operation_id="updateBrand",
        summary="Update a brand",
        **needs("brands:write", opt={BRAND_ACCESS_OPT: Access.ADMIN}),
        responses=WRITE_ERRORS,
    )
    async def update_brand(
        self, db_session: DbSession, tenant: Tenant, data: JSONBody[BrandUpdate]
    ) -> BrandOut:
        """Rename a brand or change its time zone or locale (agency owners and admins)."""
        return BrandOut.of(await service.update_brand(db_session, tenant, data))

    @delete(
        "/",
        operation_id="deleteBrand",
        summary="Delete a brand and all of its data",
        **needs("brands:write", opt={BRAND_ACCESS_OPT: Access.ADMIN}),
        status_code=HTTP_204_NO_CONTENT,
        responses=WRITE_ERRORS,
    )
    async def delete_brand(self, db_session: DbSession, tenant: Tenant) -> None:
        """Delete the brand; every row of its data goes with it."""
        await service.delete_brand(db_session, tenant)

    @get(
        "/settings",
        operation_id="getBrandSettings",
        **needs("brands:read"),
        summary="Read a brand's settings",
        responses=problem_responses(401, 404, 409),
    )
    async def get_settings(self, db_session: DbSession, tenant: Tenant) -> BrandSettingsOut:
        """Sender name, quiet hours, weekly message cap and default channel of the brand."""
        return BrandSettingsOut.of(await service.get_settings(db_session, tenant))

    @patch(
        "/settings",
        operation_id="updateBrandSettings",
        **needs("brands:write"),
        summary="Update a brand's settings",
        responses=WRITE_ERRORS,
    )
    async def update_settings(
        self, db_session: DbSession, tenant: Tenant, data: JSONBody[BrandSettingsUpdate]
    ) -> BrandSettingsOut:
        """Change the brand's settings (brand managers and agency admins)."""
        return BrandSettingsOut.of(await service.update_settings(db_session, tenant, data))

    @get(
        "/members",
        operation_id="listBrandMembers",
        summary="List who holds a role on a brand",
        **needs("agencies:read", opt={BRAND_ACCESS_OPT: Access.ADMIN}),
        responses=problem_responses(401, 403, 404, 422),
    )
    async def list_grants(self, db_session: DbSession, tenant: Tenant, page: Paging) -> GrantPage:
        """Brand roles granted on this brand (agency owners and admins reach it anyway)."""
        rows, cursor = await service.list_grants(db_session, tenant, page)
        return GrantPage([GrantOut.of_grant(g, u) for g, u in rows], cursor)

    @post(
        "/members",
        operation_id="grantBrandRole",
        summary="Grant a brand role",
        **needs("agencies:write", opt={BRAND_ACCESS_OPT: Access.ADMIN}),
        status_code=HTTP_201_CREATED,
        responses=WRITE_ERRORS,
    )
    async def grant(
        self, db_session: DbSession, tenant: Tenant, data: JSONBody[GrantCreate]
    ) -> GrantOut:
        """Grant (or change) a brand role for a member of the brand's agency."""
        grant, user = await service.grant_brand_role_by_email(
            db_session, tenant, data.email, data.role
        )
        return GrantOut.of_grant(grant, user)

    @delete(
        "/members/{user_id:uuid}",
        operation_id="revokeBrandRole",
        summary="Revoke a brand role",
        **needs("agencies:write", opt={BRAND_ACCESS_OPT: Access.ADMIN}),
        status_code=HTTP_204_NO_CONTENT,
        responses=WRITE_ERRORS,
    )
    async def revoke(self, db_session: DbSession, tenant: Tenant, user_id: FromPath[UUID]) -> None:
        """Take a user's role on this brand away."""
        await service.revoke_brand_role(db_session, tenant, user_id)
