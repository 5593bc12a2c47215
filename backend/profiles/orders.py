"""Orders (transactions) of profiles, with their lines. They follow their profile through merges
(re-pointed by the merge) and go with it when it is deleted."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.errors import Conflict
from backend.core.pagination import PageRequest
from backend.profiles import repository
from backend.profiles.fields import FieldErrors
from backend.profiles.models import Order, OrderLine
from backend.profiles.schemas import OrderIn
from backend.profiles.service import get_profile, related_changed

# What the Numeric(16, 4) and Numeric(12, 3) columns hold.
MAX_MONEY = Decimal(10) ** 12
MAX_QUANTITY = Decimal(10) ** 9


def _fits(value: Decimal, bound: Decimal) -> bool:
    return value.is_finite() and abs(value) < bound


@dataclass(frozen=True)
class OrderView:
    """An order with its lines, read as one row by `OrderOut.of(view)`."""

    order: Order
    lines: list[OrderLine]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "order":
            raise AttributeError(name)
        return getattr(self.order, name)


async def create_order(session: AsyncSession, profile_id: UUID, data: OrderIn) -> OrderView:
    """Record an order of the profile; its ``orderId`` is unique in the brand (409 otherwise)."""
    profile = await get_profile(session, profile_id)
    errors = FieldErrors()
    if data.occurred_at.tzinfo is None:
        errors.add("occurredAt", "expected a date and time with its UTC offset")
    if not _fits(data.amount, MAX_MONEY):
        errors.add("amount", f"expected a finite amount below {MAX_MONEY}")
    for index, line in enumerate(data.lines):
        if not _fits(line.quantity, MAX_QUANTITY) or line.quantity <= 0:
            errors.add(f"lines[{index}].quantity", "expected a quantity above zero")
        if not _fits(line.price, MAX_MONEY):
            errors.add(f"lines[{index}].price", f"expected a finite price below {MAX_MONEY}")
    errors.raise_if_any()
    if await repository.order_by_order_id(session, data.order_id) is not None:
        # The unique key (tenant_id, order_id) still decides if two writers race.
        raise Conflict("an order with this orderId exists", errors=[{"field": "orderId"}])
    order = Order(
        order_id=data.order_id,
        profile_id=profile.id,
        occurred_at=data.occurred_at,
        amount=data.amount,
        currency=data.currency,
        store=data.store,
        channel=data.channel,
    )
    session.add(order)
    await session.flush()
    lines = [
        OrderLine(
            order_uuid=order.id,
            product=line.product,
            category=line.category,
            quantity=line.quantity,
            price=line.price,
        )
        for line in data.lines
    ]
    session.add_all(lines)
    await session.flush()
    await related_changed(session, [profile.id])
    return OrderView(order, lines)


async def _with_lines(session: AsyncSession, orders: Sequence[Order]) -> list[OrderView]:
    lines = await repository.lines_of(session, [o.id for o in orders])
    by_order: dict[UUID, list[OrderLine]] = {}
    for line in lines:
        by_order.setdefault(line.order_uuid, []).append(line)
    return [OrderView(o, by_order.get(o.id, [])) for o in orders]


async def list_orders(
    session: AsyncSession, profile_id: UUID, page: PageRequest
) -> tuple[list[OrderView], str | None]:
    """The profile's orders in recording order, with their lines."""
    profile = await get_profile(session, profile_id)
    orders, cursor = await repository.list_orders(session, profile.id, page)
    return await _with_lines(session, orders), cursor


async def recent_orders(
    session: AsyncSession, profile_id: UUID, limit: int = 10
) -> list[OrderView]:
    """The profile's latest orders, newest first, with their lines, in two queries (template
    context)."""
    return await _with_lines(session, await repository.recent_orders(session, profile_id, limit))


async def recent_orders_of_many(
    session: AsyncSession, profile_ids: Sequence[UUID], limit: int = 10
) -> dict[UUID, list[OrderView]]:
    """Each profile's latest orders, newest first, with their lines, in two queries whatever
    the number of profiles (template contexts of a batch of sends)."""
    orders = await repository.recent_orders_of_many(session, profile_ids, limit)
    by_profile: dict[UUID, list[OrderView]] = {i: [] for i in profile_ids}
    for view in await _with_lines(session, orders):
        by_profile.setdefault(view.order.profile_id, []).append(view)
    return by_profile


async def order_times(
    session: AsyncSession, profile_ids: Sequence[UUID], since: dt.datetime, until: dt.datetime
) -> list[tuple[UUID, dt.datetime]]:
    """When these profiles ordered between ``since`` and ``until`` (a campaign's conversions):
    (profile, occurred at) pairs, in one query."""
    return await repository.order_times(session, profile_ids, since, until)


async def last_orders(session: AsyncSession, profile_ids: Sequence[UUID]) -> dict[UUID, OrderView]:
    """The latest order of each profile that has one, with lines, in two queries."""
    views = await _with_lines(session, await repository.last_orders(session, profile_ids))
    return {v.order.profile_id: v for v in views}


async def profiles_by_last_order(
    session: AsyncSession,
    after: dt.datetime,
    until: dt.datetime,
    *,
    after_profile: UUID | None = None,
    limit: int = 1000,
) -> list[tuple[UUID, dt.datetime]]:
    """The profiles whose latest order occurred in (after, until], with that order's time, in
    pages by profile id (pass the last id as ``after_profile``): what inactivity triggers read."""
    return await repository.profiles_by_last_order(
        session, after, until, after_profile=after_profile, limit=limit
    )
