"""Agencies, brands, memberships, grants and brand settings.

Every operation that a person triggers takes the :class:`Caller` and checks its role here, so
REST, GraphQL and the CLI share one rule book. Services never commit.
"""

from __future__ import annotations

import zoneinfo
from uuid import UUID

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth import service as auth_service
from backend.auth.caller import Caller
from backend.auth.models import User
from backend.core.access import Access
from backend.core.db import utcnow
from backend.core.errors import Conflict, InvalidInput, NotFound
from backend.core.jobs import enqueue
from backend.core.pagination import PageRequest
from backend.core.signals import Signal, signals
from backend.core.tenancy import TenantId
from backend.tenancy import repository
from backend.tenancy.models import (
    Agency,
    AgencyMember,
    AgencyRole,
    Brand,
    BrandGrant,
    BrandRole,
    BrandSettings,
    BrandStatus,
)
from backend.tenancy.schemas import (
    AgencyCreate,
    AgencyUpdate,
    BrandCreate,
    BrandSettingsUpdate,
    BrandUpdate,
)

PROVISION_BRAND_TASK = "tenancy.provision_brand"


def _check_time_zone(name: str) -> None:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"unknown time zone {name!r}", errors=[{"field": "timeZone"}]) from None


def _apply(target: object, changes: msgspec.Struct) -> None:
    for field in changes.__struct_fields__:
        value = getattr(changes, field)
        if value is not msgspec.UNSET:
            setattr(target, field, value)


# Agencies -----------------------------------------------------------------------------------


async def create_agency(session: AsyncSession, data: AgencyCreate, owner_id: UUID | None) -> Agency:
    """A new agency; ``owner_id`` (the signed-in creator) becomes its owner."""
    agency = Agency(name=data.name)
    session.add(agency)
    await session.flush()
    if owner_id is not None:
        session.add(AgencyMember(agency_id=agency.id, user_id=owner_id, role=AgencyRole.OWNER))
        await session.flush()
    return agency


async def list_agencies(
    session: AsyncSession, caller: Caller, page: PageRequest
) -> tuple[list[Agency], str | None]:
    return await repository.list_agencies(session, list(caller.agency_access), page)


async def get_agency(session: AsyncSession, caller: Caller, agency_id: UUID) -> Agency:
    caller.require_agency(agency_id)
    agency = await repository.get_agency(session, agency_id)
    if agency is None:
        raise NotFound("agency not found")
    return agency


async def update_agency(
    session: AsyncSession, caller: Caller, agency_id: UUID, data: AgencyUpdate
) -> Agency:
    caller.require_agency(agency_id, Access.ADMIN)
    agency = await get_agency(session, caller, agency_id)
    _apply(agency, data)
    await session.flush()
    return agency


# Brands -------------------------------------------------------------------------------------


# (session, agency_id): a brand of the agency is about to be created; a receiver refuses it by
# raising (billing: the plan has no room for another brand). Sent in the creation's transaction.
BRAND_CREATING: Signal[[AsyncSession, UUID]] = Signal("brand_creating")


async def create_brand(
    session: AsyncSession, caller: Caller | None, agency_id: UUID, data: BrandCreate
) -> Brand:
    """A new brand in provisioning; a job creates its defaults and activates it.

    ``caller`` is None only for operators (CLI), who act on any agency.
    """
    if caller is not None:
        caller.require_agency(agency_id, Access.ADMIN)
    if await repository.get_agency(session, agency_id) is None:
        raise NotFound("agency not found")
    _check_time_zone(data.time_zone)
    await signals.send(BRAND_CREATING, session, agency_id)
    brand = Brand(
        agency_id=agency_id,
        name=data.name,
        time_zone=data.time_zone,
        locale=data.locale,
        status=BrandStatus.PROVISIONING,
    )
    session.add(brand)
    await session.flush()
    await enqueue(session, PROVISION_BRAND_TASK, tenant=TenantId(brand.id))
    return brand


async def brand_ids_of_agency(session: AsyncSession, agency_id: UUID) -> list[UUID]:
    return [brand_id for brand_id, _ in await repository.brands_of_agencies(session, [agency_id])]


async def all_brand_ids(session: AsyncSession) -> list[UUID]:
    """Every brand's id, whatever its status (platform housekeeping fans out per brand)."""
    return await repository.all_brand_ids(session)


async def list_brands(
    session: AsyncSession, caller: Caller, page: PageRequest, agency_id: UUID | None = None
) -> tuple[list[Brand], str | None]:
    if agency_id is not None:
        caller.require_agency(agency_id)
    return await repository.list_brands(session, caller.brand_ids, page, agency_id=agency_id)


async def get_brand(session: AsyncSession, tenant: TenantId) -> Brand:
    """The brand of an already-authorised tenant."""
    brand = await repository.get_brand(session, tenant)
    if brand is None:
        raise NotFound("brand not found")
    return brand


async def update_brand(session: AsyncSession, tenant: TenantId, data: BrandUpdate) -> Brand:
    brand = await get_brand(session, tenant)
    if isinstance(data.time_zone, str):
        _check_time_zone(data.time_zone)
    _apply(brand, data)
    await session.flush()
    return brand


# (session, tenant): a domain deletes brand rows no foreign key cascades (bulk tables such as
# RFM scores skip per-row foreign keys). Sent before the cascade, in the deletion's transaction.
BRAND_DELETING: Signal[[AsyncSession, TenantId]] = Signal("brand_deleting")


async def delete_brand(session: AsyncSession, tenant: TenantId) -> None:
    """Delete a brand and, by cascade (and the receivers of :data:`BRAND_DELETING`), every row of
    its data."""
    brand = await get_brand(session, tenant)
    await signals.send(BRAND_DELETING, session, tenant)
    await session.delete(brand)
    await session.flush()


async def provision_brand(session: AsyncSession, tenant: TenantId) -> Brand:
    """Create a new brand's defaults and activate it; running it again changes nothing."""
    brand = await get_brand(session, tenant)
    await repository.create_default_settings(session, tenant, sender_name=brand.name)
    if brand.status is BrandStatus.PROVISIONING:
        brand.status = BrandStatus.ACTIVE
        brand.provisioned_at = utcnow()
    await session.flush()
    return brand


# Brand settings (tenant data) ---------------------------------------------------------------


async def get_settings(session: AsyncSession, tenant: TenantId) -> BrandSettings:
    settings = await repository.get_settings(session)
    if settings is None:
        raise Conflict("the brand is still being provisioned; retry in a moment")
    return settings


async def update_settings(
    session: AsyncSession, tenant: TenantId, data: BrandSettingsUpdate
) -> BrandSettings:
    settings = await get_settings(session, tenant)
    _apply(settings, data)
    await session.flush()
    return settings


# Agency members -----------------------------------------------------------------------------


async def _user_by_email(session: AsyncSession, email: str) -> User:
    user = await auth_service.find_user_by_email(session, email)
    if user is None:
        raise InvalidInput("no user has this email", errors=[{"field": "email"}])
    return user


async def list_members(
    session: AsyncSession, caller: Caller, agency_id: UUID, page: PageRequest
) -> tuple[list[tuple[AgencyMember, User]], str | None]:
    caller.require_agency(agency_id, Access.ADMIN)
    return await repository.list_members(session, agency_id, page)


async def add_member(
    session: AsyncSession, caller: Caller | None, agency_id: UUID, user: User, role: AgencyRole
) -> AgencyMember:
    """Add a user to an agency (operators pass ``caller=None``)."""
    if caller is not None:
        caller.require_agency(agency_id, Access.ADMIN)
        if role is AgencyRole.OWNER:
            caller.require_agency(agency_id, Access.OWNER)
    if await repository.get_agency(session, agency_id) is None:
        raise NotFound("agency not found")
    if await repository.get_member(session, agency_id, user.id) is not None:
        raise Conflict("this user is already a member of the agency")
    member = AgencyMember(agency_id=agency_id, user_id=user.id, role=role)
    session.add(member)
    await session.flush()
    return member


async def add_member_by_email(
    session: AsyncSession, caller: Caller, agency_id: UUID, email: str, role: AgencyRole
) -> tuple[AgencyMember, User]:
    caller.require_agency(agency_id, Access.ADMIN)
    user = await _user_by_email(session, email)
    return await add_member(session, caller, agency_id, user, role), user


async def _member_for_change(
    session: AsyncSession, caller: Caller, agency_id: UUID, user_id: UUID
) -> AgencyMember:
    caller.require_agency(agency_id, Access.ADMIN)
    # Taken before reading: two concurrent changes cannot both see "another owner remains".
    await repository.lock_agency(session, agency_id)
    member = await repository.get_member(session, agency_id, user_id)
    if member is None:
        raise NotFound("member not found")
    if member.role is AgencyRole.OWNER:
        caller.require_agency(agency_id, Access.OWNER)
    return member


async def _keep_an_owner(session: AsyncSession, member: AgencyMember) -> None:
    if (
        member.role is AgencyRole.OWNER
        and await repository.count_owners(session, member.agency_id) <= 1
    ):
        raise Conflict("an agency keeps at least one owner")


async def change_member_role(
    session: AsyncSession, caller: Caller, agency_id: UUID, user_id: UUID, role: AgencyRole
) -> tuple[AgencyMember, User]:
    member = await _member_for_change(session, caller, agency_id, user_id)
    if role is AgencyRole.OWNER:
        caller.require_agency(agency_id, Access.OWNER)
    if role is not AgencyRole.OWNER:
        await _keep_an_owner(session, member)
    member.role = role
    await session.flush()
    return member, await auth_service.get_user(session, user_id)


async def remove_member(
    session: AsyncSession, caller: Caller, agency_id: UUID, user_id: UUID
) -> None:
    member = await _member_for_change(session, caller, agency_id, user_id)
    await _keep_an_owner(session, member)
    await repository.delete_grants_in_agency(session, agency_id, user_id)
    await session.delete(member)
    await session.flush()


# Brand grants -------------------------------------------------------------------------------


async def list_grants(
    session: AsyncSession, tenant: TenantId, page: PageRequest
) -> tuple[list[tuple[BrandGrant, User]], str | None]:
    return await repository.list_grants(session, tenant, page)


async def grant_brand_role(
    session: AsyncSession, tenant: TenantId, user: User, role: BrandRole
) -> BrandGrant:
    """Grant a brand role to a member of the brand's agency (or change it)."""
    brand = await get_brand(session, tenant)
    if await repository.get_member(session, brand.agency_id, user.id) is None:
        raise InvalidInput(
            "brand roles are granted to members of the brand's agency", errors=[{"field": "email"}]
        )
    grant = await repository.get_grant(session, tenant, user.id)
    if grant is None:
        grant = BrandGrant(brand_id=tenant, user_id=user.id, role=role)
        session.add(grant)
    else:
        grant.role = role
    await session.flush()
    return grant


async def grant_brand_role_by_email(
    session: AsyncSession, tenant: TenantId, email: str, role: BrandRole
) -> tuple[BrandGrant, User]:
    user = await _user_by_email(session, email)
    return await grant_brand_role(session, tenant, user, role), user


async def user_reaches_brand(session: AsyncSession, tenant: TenantId, user_id: UUID) -> bool:
    """Whether the user may reach the brand: an owner or admin of its agency, or a member of it
    granted a brand role on it (as the brand guard decides for their requests)."""
    brand = await get_brand(session, tenant)
    member = await repository.get_member(session, brand.agency_id, user_id)
    if member is None:
        return False
    if member.role in (AgencyRole.OWNER, AgencyRole.ADMIN):
        return True
    return await repository.get_grant(session, tenant, user_id) is not None


async def revoke_brand_role(session: AsyncSession, tenant: TenantId, user_id: UUID) -> None:
    grant = await repository.get_grant(session, tenant, user_id)
    if grant is None:
        raise NotFound("grant not found")
    await session.delete(grant)
    await session.flush()


# Operators (CLI) ----------------------------------------------------------------------------

OPERATOR_ROLES = {
    "agency_owner": (AgencyRole.OWNER, None),
    "agency_admin": (AgencyRole.ADMIN, None),
    "brand_manager": (AgencyRole.MEMBER, BrandRole.MANAGER),
    "brand_viewer": (AgencyRole.MEMBER, BrandRole.VIEWER),
}


async def onboard_user(
    session: AsyncSession,
    agency_id: UUID,
    *,
    email: str,
    password: str,
    role: str,
    brand_ids: tuple[UUID, ...] = (),
    name: str | None = None,
) -> User:
    """Create a user in an agency with an agency role, or a brand role on each given brand."""
    if role not in OPERATOR_ROLES:
        raise InvalidInput(f"role must be one of {sorted(OPERATOR_ROLES)}")
    agency_role, brand_role = OPERATOR_ROLES[role]
    if brand_role is not None and not brand_ids:
        raise InvalidInput(f"role {role} needs at least one brand")
    user = await auth_service.create_user(session, email=email, password=password, name=name)
    await add_member(session, None, agency_id, user, agency_role)
    for brand_id in brand_ids:
        brand = await repository.get_brand(session, brand_id)
        if brand is None or brand.agency_id != agency_id:
            raise NotFound(f"brand {brand_id} not found in this agency")
        if brand_role is not None:
            session.add(BrandGrant(brand_id=brand_id, user_id=user.id, role=brand_role))
    await session.flush()
    return user
