"""GraphQL of coupon pools: the REST shapes (derived from `backend.content.coupons.schemas`)
and the same services. A pool shows its counts (total, claimed, left)."""

from __future__ import annotations

from uuid import UUID

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from backend.content.coupons import service
from backend.content.coupons.schemas import (
    CouponCodesAdded,
    CouponCodesUpload,
    CouponPoolCreate,
    CouponPoolOut,
)
from backend.core.graphql_entities import entity_type, input_type, struct_of
from backend.core.graphql_fields import BrandUnit, brand_mutation, brand_query
from backend.core.graphql_results import Deleted, parse_id
from backend.core.relay import Connection, Node

READ, WRITE = "content:read", "content:write"


async def _load_pool(session: AsyncSession, pool_id: UUID) -> CouponPoolOut:
    return await service.get_pool(session, pool_id)


@entity_type(CouponPoolOut, name="CouponPool", node=(READ, _load_pool))
class CouponPoolType(Node):
    """A pool of single-use codes a template hands out with `coupon("KEY")`."""


@entity_type(CouponCodesAdded, name="CouponCodesAdded")
class CouponCodesAddedType:
    pass


@input_type(CouponPoolCreate, name="CreateCouponPoolInput")
class CreateCouponPoolInput:
    pass


@input_type(CouponCodesUpload, name="AddCouponsInput")
class AddCouponsInput:
    id: strawberry.ID = strawberry.field(description="The coupon pool.")


@strawberry.input(description="Names one coupon pool.")
class CouponPoolIdInput:
    id: strawberry.ID


@strawberry.type
class CouponPoolsQuery:
    @brand_query(READ)
    async def coupon_pools(
        self, unit: BrandUnit, first: int = 50, after: str | None = None
    ) -> Connection[CouponPoolType]:
        """The brand's coupon pools with their counts, in creation order."""
        page = unit.page(first, after)
        items, cursor = await service.list_pools(unit.session, page)
        return unit.connection(items, cursor, page, count=service.count_pools)

    @brand_query(READ, missing_is_null=True)
    async def coupon_pool(self, unit: BrandUnit, id: strawberry.ID) -> CouponPoolType | None:
        """One pool with its counts (null when the brand has none with this id)."""
        return await _load_pool(unit.session, parse_id(id, "CouponPool"))


@strawberry.type
class CouponPoolsMutation:
    @brand_mutation(WRITE)
    async def create_coupon_pool(
        self, unit: BrandUnit, input: CreateCouponPoolInput
    ) -> CouponPoolType:
        """Create an empty pool (a taken key is a conflict)."""
        return await service.create_pool(unit.session, struct_of(CouponPoolCreate, input))

    @brand_mutation(WRITE)
    async def add_coupons(self, unit: BrandUnit, input: AddCouponsInput) -> CouponCodesAddedType:
        """Add codes as a list (`codes`) or CSV text (`csv`); duplicates are ignored and
        counted."""
        return await service.add_codes(
            unit.session,
            unit.tenant,
            parse_id(input.id, "CouponPool"),
            struct_of(CouponCodesUpload, input),
        )

    @brand_mutation(WRITE)
    async def delete_coupon_pool(self, unit: BrandUnit, input: CouponPoolIdInput) -> Deleted:
        """Delete a pool and its codes."""
        await service.delete_pool(unit.session, parse_id(input.id, "CouponPool"))
        return Deleted(id=input.id)
