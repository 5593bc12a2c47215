"""What the REST API reads and writes for coupon pools and their codes."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from uuid import UUID

import msgspec

from backend.content.coupons.models import CouponPool
from backend.core.schemas import Schema, whole

PoolKey = Annotated[
    str,
    msgspec.Meta(
        pattern=whole(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,63}"), max_length=64, examples=["WELCOME10"]
    ),
]
Code = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
MAX_UPLOAD_CODES = 100_000


class CouponPoolCreate(Schema, kw_only=True):
    """A pool of single-use codes; templates use it as `coupon("KEY")`."""

    key: PoolKey
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class CouponPoolOut(Schema):
    """A pool with its counts: `total` codes, `claimed` (handed to a message) and `left`."""

    id: UUID
    key: str
    name: str
    total: int
    claimed: int
    left: int
    created_at: dt.datetime

    @classmethod
    def of_pool(cls, pool: CouponPool, total: int, claimed: int) -> CouponPoolOut:
        return cls(
            id=pool.id,
            key=pool.key,
            name=pool.name,
            total=total,
            claimed=claimed,
            left=total - claimed,
            created_at=pool.created_at,
        )


class CouponPoolPage(Schema):
    items: list[CouponPoolOut]
    next_cursor: str | None


class CouponCodesUpload(Schema, kw_only=True):
    """Codes to add, as a JSON list (`codes`) or as CSV text (`csv`: one code per line, the
    first column; a header line `code` is skipped). Codes the pool holds already, or given
    twice, are ignored."""

    codes: Annotated[list[Code], msgspec.Meta(max_length=MAX_UPLOAD_CODES)] | None = None
    csv: Annotated[str, msgspec.Meta(max_length=MAX_UPLOAD_CODES * 101)] | None = None


class CouponCodesAdded(Schema):
    """How many codes were received, added, ignored as duplicates; the pool's counts after."""

    received: int
    added: int
    duplicates: int
    pool: CouponPoolOut
