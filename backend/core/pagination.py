"""Keyset (cursor) pagination over time-ordered ids: stable under inserts, O(limit) per page."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from backend.core.errors import InvalidInput

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class _Cursor(msgspec.Struct):
    after: UUID


@dataclass(frozen=True)
class PageRequest:
    limit: int = DEFAULT_LIMIT
    after: UUID | None = None

    @classmethod
    def parse(cls, limit: int | None, cursor: str | None) -> PageRequest:
        limit = DEFAULT_LIMIT if limit is None else limit
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput(
                f"limit must be between 1 and {MAX_LIMIT}", errors=[{"field": "limit"}]
            )
        return cls(limit=limit, after=decode_cursor(cursor) if cursor else None)


def encode_cursor(after: UUID) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(_Cursor(after))).decode().rstrip("=")


def decode_cursor(cursor: str) -> UUID:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return msgspec.json.decode(raw, type=_Cursor).after
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise InvalidInput("cursor is not valid", errors=[{"field": "cursor"}]) from None


async def paginate(
    session: AsyncSession,
    query: Select[*tuple[Any, ...]],
    key: InstrumentedAttribute[UUID],
    page: PageRequest,
    *,
    rows: bool = False,
) -> tuple[list[Any], str | None]:
    """One page ordered by ``key`` and the cursor of the next page (None on the last one).

    With ``rows`` the items are result rows (several entities); otherwise single entities.
    """
    if page.after is not None:
        query = query.where(key > page.after)
    query = query.order_by(key).limit(page.limit + 1)
    result = await session.execute(query)
    items: list[Any] = [tuple(row) for row in result] if rows else list(result.scalars())
    next_cursor = None
    if len(items) > page.limit:
        items = items[: page.limit]
        last = items[-1][0] if rows else items[-1]
        next_cursor = encode_cursor(getattr(last, key.key))
    return items, next_cursor


async def count_rows(session: AsyncSession, query: Select[*tuple[Any, ...]]) -> int:
    """How many rows ``query`` selects: a list's `totalCount`."""
    total = await session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    return int(total or 0)
