"""Standard commerce events: their properties are checked on ingestion, and once stored they
update first-class data. ``order_completed`` records the order (through the profiles' orders
service) and converts the profile's open cart; ``cart_updated`` / ``cart_cleared`` keep the live
cart."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.errors import LevierError
from backend.core.schemas import whole
from backend.events import repository
from backend.events.models import Cart, CartStatus
from backend.profiles import orders
from backend.profiles.schemas import OrderIn, OrderLineIn

ORDER_COMPLETED = "order_completed"
CART_UPDATED = "cart_updated"
CART_CLEARED = "cart_cleared"
DEFAULT_CART = "default"

Currency = Annotated[str, msgspec.Meta(pattern=whole(r"[A-Z]{3}"))]


class _Properties(msgspec.Struct, rename="camel"):
    """Properties of a standard event: named fields are checked, others are kept as sent."""


class OrderLineProperties(_Properties):
    product: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    quantity: Decimal
    price: Decimal
    category: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class OrderCompleted(_Properties):
    order_id: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    amount: Decimal
    currency: Currency
    store: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    channel: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    lines: list[OrderLineProperties] = []
    cart_id: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] | None = None


class CartUpdated(_Properties):
    items: list[dict[str, Any]]
    cart_id: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] = DEFAULT_CART
    total: Decimal | None = None
    currency: Currency | None = None


class CartCleared(_Properties):
    cart_id: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] = DEFAULT_CART


STANDARD: dict[str, type[_Properties]] = {
    ORDER_COMPLETED: OrderCompleted,
    CART_UPDATED: CartUpdated,
    CART_CLEARED: CartCleared,
}


def check(name: str, properties: dict[str, Any]) -> list[dict[str, Any]]:
    """The violations of a standard event's properties (empty for other events)."""
    schema = STANDARD.get(name)
    if schema is None:
        return []
    try:
        data = msgspec.convert(properties, schema, strict=False)
    except msgspec.ValidationError as exc:
        return [{"field": "properties", "message": str(exc)}]
    errors: list[dict[str, Any]] = []
    if isinstance(data, OrderCompleted):
        if not _fits(data.amount, orders.MAX_MONEY):
            errors.append({"field": "properties.amount", "message": "expected a finite amount"})
        for index, line in enumerate(data.lines):
            if not _fits(line.quantity, orders.MAX_QUANTITY) or line.quantity <= 0:
                errors.append(
                    {"field": f"properties.lines[{index}].quantity", "message": "expected > 0"}
                )
            if not _fits(line.price, orders.MAX_MONEY):
                errors.append(
                    {"field": f"properties.lines[{index}].price", "message": "expected a price"}
                )
    elif (
        isinstance(data, CartUpdated)
        and data.total is not None
        and not _fits(data.total, orders.MAX_MONEY)
    ):
        errors.append({"field": "properties.total", "message": "expected a finite amount"})
    return errors


def _fits(value: Decimal, bound: Decimal) -> bool:
    return value.is_finite() and abs(value) < bound


@dataclass(frozen=True)
class CartChange:
    """What a stored standard event did to a profile's carts."""

    profile_id: UUID
    cart_id: str | None  # None: every open cart of the profile (an order naming no cart)
    changed_at: dt.datetime
    still_open: bool  # updated (True), or cleared or converted by an order (False)


def cart_change(
    name: str, profile_id: UUID, occurred_at: dt.datetime, properties: dict[str, Any]
) -> CartChange | None:
    """The cart change a stored event stands for (None for events that touch no cart)."""
    schema = STANDARD.get(name)
    if schema is None:
        return None
    data = msgspec.convert(properties, schema, strict=False)
    if isinstance(data, CartUpdated):
        return CartChange(profile_id, data.cart_id, occurred_at, still_open=True)
    if isinstance(data, CartCleared | OrderCompleted):
        return CartChange(profile_id, data.cart_id, occurred_at, still_open=False)
    return None


async def apply(
    session: AsyncSession,
    name: str,
    profile_id: Any,
    occurred_at: dt.datetime,
    properties: dict[str, Any],
) -> None:
    """Update first-class data for a stored standard event (nothing for other events)."""
    schema = STANDARD.get(name)
    if schema is None:
        return
    data = msgspec.convert(properties, schema, strict=False)
    if isinstance(data, OrderCompleted):
        await _order_completed(session, profile_id, occurred_at, data)
    elif isinstance(data, CartUpdated):
        cart = await _cart(session, profile_id, data.cart_id, occurred_at)
        cart.items = list(data.items)
        cart.total = data.total
        cart.currency = data.currency
        cart.status = CartStatus.OPEN
        cart.changed_at = occurred_at
    elif isinstance(data, CartCleared):
        cart = await _cart(session, profile_id, data.cart_id, occurred_at)
        cart.items = []
        cart.total = None
        cart.status = CartStatus.CLEARED
        cart.changed_at = occurred_at
    await session.flush()


async def _cart(
    session: AsyncSession, profile_id: Any, cart_id: str, occurred_at: dt.datetime
) -> Cart:
    cart = await repository.cart_of(session, profile_id, cart_id)
    if cart is None:
        cart = Cart(
            profile_id=profile_id,
            cart_id=cart_id,
            items=[],
            status=CartStatus.OPEN,
            changed_at=occurred_at,
        )
        session.add(cart)
    return cart


async def _order_completed(
    session: AsyncSession, profile_id: Any, occurred_at: dt.datetime, data: OrderCompleted
) -> None:
    order = OrderIn(
        order_id=data.order_id,
        occurred_at=occurred_at,
        amount=data.amount,
        currency=data.currency,
        store=data.store,
        channel=data.channel,
        lines=[
            OrderLineIn(
                product=line.product,
                category=line.category,
                quantity=line.quantity,
                price=line.price,
            )
            for line in data.lines
        ],
    )
    try:
        # A savepoint: an order already recorded (by an import, or the REST API) is kept as is.
        async with session.begin_nested():
            await orders.create_order(session, profile_id, order)
    except LevierError:
        pass
    carts = await repository.open_carts_of(session, profile_id)
    for cart in carts:
        if data.cart_id is None or cart.cart_id == data.cart_id:
            cart.status = CartStatus.CONVERTED
            cart.changed_at = occurred_at
