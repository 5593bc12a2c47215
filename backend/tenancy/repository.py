"""Queries of the tenancy domain."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.models import User
from backend.core.db import insert_ignoring_conflict, utcnow
from backend.core.pagination import PageRequest, count_rows, paginate
from backend.tenancy.models import (
    Agency,
    AgencyMember,
    AgencyRole,
    Brand,
    BrandGrant,
    BrandRole,
    BrandSettings,
)


async def agency_roles_of_user(
    session: AsyncSession, user_id: UUID
) -> Sequence[tuple[UUID, AgencyRole]]:
    rows = await session.execute(
        select(AgencyMember.agency_id, AgencyMember.role).where(AgencyMember.user_id == user_id)
    )
    return [(agency_id, role) for agency_id, role in rows]


async def brands_of_agencies(
    session: AsyncSession, agency_ids: Sequence[UUID]
) -> Sequence[tuple[UUID, UUID]]:
    if not agency_ids:
        return []
    rows = await session.execute(
        select(Brand.id, Brand.agency_id).where(Brand.agency_id.in_(agency_ids))
    )
    return [(brand_id, agency_id) for brand_id, agency_id in rows]


async def brand_grants_of_user(
    session: AsyncSession, user_id: UUID
) -> Sequence[tuple[UUID, UUID, BrandRole]]:
    """(brand id, agency id, role) of every brand role granted to the user."""
    rows = await session.execute(
        select(BrandGrant.brand_id, Brand.agency_id, BrandGrant.role)
        .join(Brand, Brand.id == BrandGrant.brand_id)
        .where(BrandGrant.user_id == user_id)
    )
    return [(brand_id, agency_id, role) for brand_id, agency_id, role in rows]


async def get_agency(session: AsyncSession, agency_id: UUID) -> Agency | None:
    return await session.get(Agency, agency_id)


async def list_agencies(
    session: AsyncSession, agency_ids: Sequence[UUID], page: PageRequest
) -> tuple[list[Agency], str | None]:
    query = select(Agency).where(Agency.id.in_(agency_ids))
    return await paginate(session, query, Agency.id, page)


async def agencies_by_ids(session: AsyncSession, agency_ids: Sequence[UUID]) -> list[Agency]:
    if not agency_ids:
        return []
    return list((await session.scalars(select(Agency).where(Agency.id.in_(agency_ids)))).all())


async def get_brand(session: AsyncSession, brand_id: UUID) -> Brand | None:
    return await session.get(Brand, brand_id)


async def all_brand_ids(session: AsyncSession) -> list[UUID]:
    return list((await session.scalars(select(Brand.id).order_by(Brand.id))).all())


async def list_brands(
    session: AsyncSession,
    brand_ids: Sequence[UUID],
    page: PageRequest,
    *,
    agency_id: UUID | None = None,
) -> tuple[list[Brand], str | None]:
    query = select(Brand).where(Brand.id.in_(brand_ids))
    if agency_id is not None:
        query = query.where(Brand.agency_id == agency_id)
    return await paginate(session, query, Brand.id, page)


async def brands_by_agency(
    session: AsyncSession, agency_ids: Sequence[UUID], visible: Sequence[UUID]
) -> list[Brand]:
    if not agency_ids or not visible:
        return []
    query = (
        select(Brand)
        .where(Brand.agency_id.in_(agency_ids), Brand.id.in_(visible))
        .order_by(Brand.id)
    )
    return list((await session.scalars(query)).all())


async def get_member(session: AsyncSession, agency_id: UUID, user_id: UUID) -> AgencyMember | None:
    return await session.scalar(
        select(AgencyMember).where(
            AgencyMember.agency_id == agency_id, AgencyMember.user_id == user_id
        )
    )


async def list_members(
    session: AsyncSession, agency_id: UUID, page: PageRequest
) -> tuple[list[tuple[AgencyMember, User]], str | None]:
    query = (
        select(AgencyMember, User)
        .join(User, User.id == AgencyMember.user_id)
        .where(AgencyMember.agency_id == agency_id)
    )
    return await paginate(session, query, AgencyMember.id, page, rows=True)


async def count_members(session: AsyncSession, agency_id: UUID) -> int:
    return await count_rows(
        session, select(AgencyMember.id).where(AgencyMember.agency_id == agency_id)
    )


async def lock_agency(session: AsyncSession, agency_id: UUID) -> None:
    """Serialise membership changes of one agency until the transaction ends.

    A row lock on PostgreSQL; on SQLite the write takes the database lock (FOR UPDATE is a no-op).
    """
    await session.execute(update(Agency).where(Agency.id == agency_id).values(updated_at=utcnow()))


async def count_owners(session: AsyncSession, agency_id: UUID) -> int:
    owners = await session.scalars(
        select(AgencyMember.id).where(
            AgencyMember.agency_id == agency_id, AgencyMember.role == AgencyRole.OWNER
        )
    )
    return len(owners.all())


async def get_grant(session: AsyncSession, brand_id: UUID, user_id: UUID) -> BrandGrant | None:
    return await session.scalar(
        select(BrandGrant).where(BrandGrant.brand_id == brand_id, BrandGrant.user_id == user_id)
    )


async def delete_grants_in_agency(session: AsyncSession, agency_id: UUID, user_id: UUID) -> None:
    """Drop the user's brand roles on every brand of the agency."""
    brands_of_agency = select(Brand.id).where(Brand.agency_id == agency_id)
    await session.execute(
        delete(BrandGrant).where(
            BrandGrant.user_id == user_id, BrandGrant.brand_id.in_(brands_of_agency)
        )
    )


async def list_grants(
    session: AsyncSession, brand_id: UUID, page: PageRequest
) -> tuple[list[tuple[BrandGrant, User]], str | None]:
    query = (
        select(BrandGrant, User)
        .join(User, User.id == BrandGrant.user_id)
        .where(BrandGrant.brand_id == brand_id)
    )
    return await paginate(session, query, BrandGrant.id, page, rows=True)


async def count_grants(session: AsyncSession, brand_id: UUID) -> int:
    return await count_rows(session, select(BrandGrant.id).where(BrandGrant.brand_id == brand_id))


async def create_default_settings(session: AsyncSession, tenant: UUID, *, sender_name: str) -> bool:
    """Insert the brand's default settings unless they exist (concurrent provisioning is safe)."""
    now = utcnow()
    values = {"tenant_id": tenant, "sender_name": sender_name, "created_at": now, "updated_at": now}
    return await insert_ignoring_conflict(session, BrandSettings, values, ["tenant_id"])


async def get_settings(session: AsyncSession) -> BrandSettings | None:
    # The tenant-scoped session adds the brand filter.
    return await session.scalar(select(BrandSettings))
