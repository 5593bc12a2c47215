"""Coupon queries. A claim is one statement: ``UPDATE … WHERE code = (SELECT … WHERE claimed_by
IS NULL … LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING code`` (SQLite has no row locks and runs
one writer at a time, where the same statement is just as single-use)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.content.coupons.models import CouponCode, CouponPool
from backend.core.db import insert_for
from backend.core.pagination import PageRequest, count_rows, paginate

INSERT_SLICE = 1000


async def list_pools(
    session: AsyncSession, page: PageRequest
) -> tuple[list[CouponPool], str | None]:
    return await paginate(session, select(CouponPool), CouponPool.id, page)


async def count_pools(session: AsyncSession) -> int:
    return await count_rows(session, select(CouponPool))


async def get_pool(session: AsyncSession, pool_id: UUID) -> CouponPool | None:
    return await session.scalar(select(CouponPool).where(CouponPool.id == pool_id))


async def pools_by_key(session: AsyncSession, keys: Sequence[str]) -> dict[str, CouponPool]:
    if not keys:
        return {}
    rows = await session.scalars(select(CouponPool).where(CouponPool.key.in_(keys)))
    return {pool.key: pool for pool in rows}


async def stats(session: AsyncSession, pool_ids: Sequence[UUID]) -> dict[UUID, tuple[int, int]]:
    """(total, claimed) per pool."""
    if not pool_ids:
        return {}
    rows = await session.execute(
        select(CouponCode.pool_id, func.count(), func.count(CouponCode.claimed_by))
        .where(CouponCode.pool_id.in_(pool_ids))
        .group_by(CouponCode.pool_id)
    )
    return {pool_id: (int(total), int(claimed)) for pool_id, total, claimed in rows}


async def add_codes(
    session: AsyncSession, tenant_id: UUID, pool_id: UUID, codes: Sequence[str]
) -> None:
    """Insert the codes, ignoring those the pool holds already."""
    for start in range(0, len(codes), INSERT_SLICE):
        rows = [
            {"tenant_id": tenant_id, "pool_id": pool_id, "code": code}
            for code in codes[start : start + INSERT_SLICE]
        ]
        statement = (
            insert_for(session, CouponCode)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["tenant_id", "pool_id", "code"])
        )
        await session.execute(statement)


async def claim(
    session: AsyncSession, tenant_id: UUID, pool_id: UUID, holder: UUID, now: dt.datetime
) -> str | None:
    """Hand the holder a free code, unless it holds one of this pool already; None when it
    does, or when the pool is dry."""
    held = exists().where(
        CouponCode.tenant_id == tenant_id,
        CouponCode.pool_id == pool_id,
        CouponCode.claimed_by == holder,
    )
    free = (
        select(CouponCode.code)
        .where(
            CouponCode.tenant_id == tenant_id,
            CouponCode.pool_id == pool_id,
            CouponCode.claimed_by.is_(None),
            ~held,
        )
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    statement = (
        update(CouponCode)
        .where(
            CouponCode.tenant_id == tenant_id,
            CouponCode.pool_id == pool_id,
            CouponCode.code == free,
        )
        .values(claimed_by=holder, claimed_at=now)
        .returning(CouponCode.code)
        .execution_options(synchronize_session=False)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def held_code(session: AsyncSession, pool_id: UUID, holder: UUID) -> str | None:
    return await session.scalar(
        select(CouponCode.code).where(
            CouponCode.pool_id == pool_id, CouponCode.claimed_by == holder
        )
    )


async def delete_pool(session: AsyncSession, pool: CouponPool) -> None:
    await session.delete(pool)
    await session.flush()
