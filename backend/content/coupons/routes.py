"""REST routes of coupon pools under ``/v1/brands/{brand_id}/coupon-pools``."""

from __future__ import annotations

from uuid import UUID

from litestar import delete, get, post
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from backend.auth.scopes import needs
from backend.content.coupons import service
from backend.content.coupons.schemas import (
    CouponCodesAdded,
    CouponCodesUpload,
    CouponPoolCreate,
    CouponPoolOut,
    CouponPoolPage,
)
from backend.core.api import READ_ERRORS, WRITE_ERRORS, BrandController
from backend.core.dependencies import DbSession, Paging, Tenant

READ, WRITE = "content:read", "content:write"


class CouponPoolController(BrandController):
    """Pools of single-use codes a template hands out with `coupon("KEY")`."""

    path = "/v1/brands/{brand_id:uuid}/coupon-pools"
    tags = ["content"]

    @get("/", operation_id="listCouponPools", summary="List coupon pools", **needs(READ),
         responses=READ_ERRORS)  # fmt: skip
    async def list_pools(self, db_session: DbSession, page: Paging) -> CouponPoolPage:
        """The brand's pools with their counts (total, claimed, left)."""
        items, cursor = await service.list_pools(db_session, page)
        return CouponPoolPage(items, cursor)

    @post("/", operation_id="createCouponPool", summary="Create a coupon pool", **needs(WRITE),
          status_code=HTTP_201_CREATED, responses=WRITE_ERRORS)  # fmt: skip
    async def create_pool(
        self, db_session: DbSession, data: JSONBody[CouponPoolCreate]
    ) -> CouponPoolOut:
        """Create an empty pool (409 when the key is taken)."""
        return await service.create_pool(db_session, data)

    @get("/{pool_id:uuid}", operation_id="getCouponPool", summary="Read a coupon pool",
         **needs(READ), responses=READ_ERRORS)  # fmt: skip
    async def get_pool(self, db_session: DbSession, pool_id: FromPath[UUID]) -> CouponPoolOut:
        """One pool with its counts."""
        return await service.get_pool(db_session, pool_id)

    @delete("/{pool_id:uuid}", operation_id="deleteCouponPool", summary="Delete a coupon pool",
            **needs(WRITE), status_code=HTTP_204_NO_CONTENT, responses=WRITE_ERRORS)  # fmt: skip
    async def delete_pool(self, db_session: DbSession, pool_id: FromPath[UUID]) -> None:
        """Delete a pool and its codes."""
        await service.delete_pool(db_session, pool_id)

    @post("/{pool_id:uuid}/codes", operation_id="addCoupons", summary="Upload coupon codes",
          **needs(WRITE), status_code=200, responses=WRITE_ERRORS)  # fmt: skip
    async def add_codes(
        self,
        db_session: DbSession,
        tenant: Tenant,
        pool_id: FromPath[UUID],
        data: JSONBody[CouponCodesUpload],
    ) -> CouponCodesAdded:
        """Add codes as a JSON list (`codes`) or CSV text (`csv`); duplicates are ignored and
        counted."""
        return await service.add_codes(db_session, tenant, pool_id, data)
