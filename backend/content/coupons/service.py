"""Coupon pools: upload codes, read counts, and claim one code per holder (a message) per
pool, single use and idempotent per holder. Services never commit."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from uuid import UUID

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.content.coupons import repository
from backend.content.coupons.models import CouponPool
from backend.content.coupons.schemas import (
    MAX_UPLOAD_CODES,
    CouponCodesAdded,
    CouponCodesUpload,
    CouponPoolCreate,
    CouponPoolOut,
)
from backend.content.errors import RefusalReason, RenderRefused
from backend.core.db import utcnow
from backend.core.errors import Conflict, InvalidInput, NotFound
from backend.core.pagination import PageRequest
from backend.core.tenancy import TenantId

SAMPLE_CODE = "SAMPLE-CODE"


async def _out(session: AsyncSession, pools: Sequence[CouponPool]) -> list[CouponPoolOut]:
    counts = await repository.stats(session, [p.id for p in pools])
    return [CouponPoolOut.of_pool(p, *counts.get(p.id, (0, 0))) for p in pools]


async def list_pools(
    session: AsyncSession, page: PageRequest
) -> tuple[list[CouponPoolOut], str | None]:
    """The brand's pools with their counts, in creation order."""
    pools, cursor = await repository.list_pools(session, page)
    return await _out(session, pools), cursor


async def count_pools(session: AsyncSession) -> int:
    return await repository.count_pools(session)


async def _pool(session: AsyncSession, pool_id: UUID) -> CouponPool:
    pool = await repository.get_pool(session, pool_id)
    if pool is None:
        raise NotFound("coupon pool not found")
    return pool


async def get_pool(session: AsyncSession, pool_id: UUID) -> CouponPoolOut:
    """One pool with its counts (total, claimed, left)."""
    return (await _out(session, [await _pool(session, pool_id)]))[0]


async def create_pool(session: AsyncSession, data: CouponPoolCreate) -> CouponPoolOut:
    """A new, empty pool (409 when the key is taken)."""
    if await repository.pools_by_key(session, [data.key]):
        raise Conflict(f"a coupon pool '{data.key}' exists already")
    pool = CouponPool(key=data.key, name=data.name)
    session.add(pool)
    await session.flush()
    return CouponPoolOut.of_pool(pool, 0, 0)


async def delete_pool(session: AsyncSession, pool_id: UUID) -> None:
    """Delete a pool and its codes (templates using it then fail at save and at send)."""
    await repository.delete_pool(session, await _pool(session, pool_id))


def _codes_of(data: CouponCodesUpload) -> list[str]:
    if (data.codes is None) == (data.csv is None):
        raise InvalidInput(
            "give either `codes` (a list) or `csv` (text)",
            errors=[{"field": "codes", "pointer": "/codes", "message": "codes or csv"}],
        )
    if data.codes is not None:
        raw, pointer = [c.strip() for c in data.codes], "/codes"
    else:
        reader = csv.reader(io.StringIO(data.csv or ""))
        raw = [row[0].strip() for row in reader if row and row[0].strip()]
        if raw and raw[0].lower() == "code":
            raw = raw[1:]
        pointer = "/csv"
    for index, code in enumerate(raw):
        if not code or len(code) > 100 or any(ch < " " for ch in code):
            where = f"{pointer}/{index}" if pointer == "/codes" else pointer
            raise InvalidInput(
                f"code {index + 1} is empty, longer than 100 characters or holds control "
                "characters",
                errors=[{"field": pointer[1:], "pointer": where, "message": "bad code"}],
            )
    if len(raw) > MAX_UPLOAD_CODES:
        raise InvalidInput(f"at most {MAX_UPLOAD_CODES} codes per upload")
    return raw


async def add_codes(
    session: AsyncSession, tenant: TenantId, pool_id: UUID, data: CouponCodesUpload
) -> CouponCodesAdded:
    """Add codes to a pool; duplicates (in the upload or in the pool) are ignored."""
    pool = await _pool(session, pool_id)
    codes = _codes_of(data)
    before, _ = (await repository.stats(session, [pool.id])).get(pool.id, (0, 0))
    await repository.add_codes(session, tenant, pool.id, list(dict.fromkeys(codes)))
    out = await get_pool(session, pool.id)
    added = out.total - before
    return CouponCodesAdded(
        received=len(codes), added=added, duplicates=len(codes) - added, pool=out
    )


async def unknown_pools(session: AsyncSession, keys: Sequence[str]) -> list[str]:
    """Which of these pool keys the brand has no pool for."""
    found = await repository.pools_by_key(session, keys)
    return sorted(set(keys) - set(found))


async def claim_codes(
    session: AsyncSession, tenant: TenantId, keys: Sequence[str], holder: UUID
) -> dict[str, str]:
    """One code of each pool for ``holder``: the one it holds already, or a free one claimed
    now. Raises RenderRefused(`coupon-pool-empty`) for a dry (or deleted) pool."""
    claimed = (await claim_for_many(session, tenant, {holder: keys}))[holder]
    if isinstance(claimed, RenderRefused):
        raise claimed
    return claimed


async def claim_for_many(
    session: AsyncSession, tenant: TenantId, wanted: Mapping[UUID, Sequence[str]]
) -> dict[UUID, dict[str, str] | RenderRefused]:
    """For each holder (a message), one code of each pool it names: the one it holds already,
    or a free one claimed now; each pool claimed for all its holders at once (one statement on
    PostgreSQL). Pools are taken in key order and a holder's first dry (or deleted) pool refuses
    it (`coupon-pool-empty`): its later pools are not claimed, as for a single render.

    Single use: PostgreSQL locks the codes it hands (``SKIP LOCKED``: concurrent batches take
    distinct ones); on SQLite the caller's transaction must already be the writer
    (``start_as_writer``). Per holder: a holder holds at most one code per pool (a unique key),
    so a retried message gets its code again."""
    result: dict[UUID, dict[str, str] | RenderRefused] = {holder: {} for holder in wanted}
    keys = sorted({key for names in wanted.values() for key in names})
    if not keys:
        return result
    pools = await repository.pools_by_key(session, keys)
    for key in keys:
        holders = [h for h, names in wanted.items() if key in names and isinstance(result[h], dict)]
        if not holders:
            continue
        pool = pools.get(key)
        codes = await _claim_pool(session, tenant, pool.id, holders) if pool else {}
        why = "is empty" if pool else "is gone"
        for holder in holders:
            held = result[holder]
            assert isinstance(held, dict)
            code = codes.get(holder)
            if code is None:
                result[holder] = RenderRefused(
                    RefusalReason.COUPON_POOL_EMPTY, f"coupon pool '{key}' {why}"
                )
            else:
                held[key] = code
    return result


async def _claim_pool(
    session: AsyncSession, tenant: TenantId, pool_id: UUID, holders: Sequence[UUID]
) -> dict[UUID, str]:
    """Codes for these holders of one pool (those it could serve). A claim first: a batch of
    fresh messages holds no code yet. The codes held already are read only when the claim
    could not serve every holder — it failed on the holder's unique key (a retried render, or
    the holder claimed concurrently elsewhere), or the pool had too few free codes — and the
    holders still without one are claimed again."""
    codes: dict[UUID, str] = {}
    missing = list(holders)
    looked_up = False
    while missing:
        try:
            # A savepoint: the statement is all or nothing, and its failure must not end the
            # caller's transaction.
            async with session.begin_nested():
                got = await repository.claim_many(session, tenant, pool_id, missing, utcnow())
        except IntegrityError:
            if looked_up:
                # Still racing another claim of the same holders: one at a time, each in its
                # own savepoint.
                for holder in missing:
                    code = await _claim_one(session, tenant, pool_id, holder)
                    if code is not None:
                        codes[holder] = code
                break
            got = {}
        codes.update(got)
        missing = [h for h in missing if h not in codes]
        if missing and not looked_up:
            looked_up = True
            codes.update(await repository.held_codes(session, pool_id, missing))
            missing = [h for h in missing if h not in codes]
        elif not got:
            break  # dry, or what is left is locked by other claims
    return codes


async def _claim_one(
    session: AsyncSession, tenant: TenantId, pool_id: UUID, holder: UUID
) -> str | None:
    try:
        # A savepoint: the same holder claiming concurrently elsewhere loses on the unique key,
        # and then reads the code the other claim got.
        async with session.begin_nested():
            code = await repository.claim(session, tenant, pool_id, holder, utcnow())
    except IntegrityError:
        code = None
    return code or await repository.held_code(session, pool_id, holder)


def sample_codes(keys: Sequence[str]) -> dict[str, str]:
    """What a preview shows in place of each pool's code (nothing is claimed)."""
    return {key: SAMPLE_CODE for key in keys}
