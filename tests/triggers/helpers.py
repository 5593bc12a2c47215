"""Small helpers of the trigger tests: profiles, attributes, orders and definitions made through
the real services, and occurrences read back."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from uuid import UUID

from litestar import Litestar
from sqlalchemy import select

from backend.core.tenancy import TenantId
from backend.profiles import attributes, orders
from backend.profiles import service as profile_service
from backend.profiles.models import AttributeType
from backend.profiles.schemas import AttributeCreate, OrderIn, ProfileCreate
from backend.triggers import service
from backend.triggers.models import TriggerDefinition, TriggerKind, TriggerOccurrence
from backend.triggers.schemas import TriggerCreate
from tests.factories import session_of

UTC = dt.UTC


def at(text: str) -> dt.datetime:
    """An aware instant from ISO text (UTC unless it says otherwise)."""
    moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def make_profile(app: Litestar, brand_id: UUID, **fields: Any) -> UUID:
    async with session_of(app, brand_id) as session:
        profile, _ = await profile_service.create_profile(
            session, TenantId(brand_id), ProfileCreate(**fields)
        )
        await session.commit()
    return profile.id


async def define_attribute(app: Litestar, brand_id: UUID, key: str, type: AttributeType) -> None:
    async with session_of(app, brand_id) as session:
        await attributes.create_attribute(
            session, AttributeCreate(key=key, label=key.title(), type=type)
        )
        await session.commit()


async def add_order(
    app: Litestar, brand_id: UUID, profile_id: UUID, order_id: str, when: str
) -> None:
    async with session_of(app, brand_id) as session:
        await orders.create_order(
            session,
            profile_id,
            OrderIn(order_id=order_id, occurred_at=at(when), amount=Decimal("10"), currency="EUR"),
        )
        await session.commit()


async def define_trigger(
    app: Litestar, brand_id: UUID, key: str, kind: TriggerKind, now: str, **settings: Any
) -> TriggerDefinition:
    """A trigger defined at ``now`` (its scans start there)."""
    data = TriggerCreate(key=key, label=key.replace("_", " ").title(), kind=kind, **settings)
    async with session_of(app, brand_id) as session:
        definition = await service.create_definition(session, data, now=at(now))
        await session.commit()
    return definition


async def occurrences(
    app: Litestar, brand_id: UUID, type: str | None = None
) -> list[TriggerOccurrence]:
    async with session_of(app, brand_id) as session:
        query = select(TriggerOccurrence).order_by(TriggerOccurrence.occurred_at)
        if type is not None:
            query = query.where(TriggerOccurrence.type == type)
        return list((await session.scalars(query)).all())
