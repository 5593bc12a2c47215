"""Queries of the webhooks domain (the session adds the brand to each)."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.pagination import PageRequest, count_rows, paginate
from backend.webhooks.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)


async def list_endpoints(
    session: AsyncSession, page: PageRequest
) -> tuple[list[WebhookEndpoint], str | None]:
    return await paginate(session, select(WebhookEndpoint), WebhookEndpoint.id, page)


async def count_endpoints(session: AsyncSession) -> int:
    return await count_rows(session, select(WebhookEndpoint.id))


async def enabled_endpoints(session: AsyncSession) -> list[WebhookEndpoint]:
    query = select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True))
    return list((await session.scalars(query)).all())


async def get_endpoint(session: AsyncSession, endpoint_id: UUID) -> WebhookEndpoint | None:
    return await session.scalar(select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id))


async def get_event(session: AsyncSession, event_id: UUID) -> WebhookEvent | None:
    return await session.scalar(select(WebhookEvent).where(WebhookEvent.id == event_id))


async def get_delivery(
    session: AsyncSession, endpoint_id: UUID, delivery_id: UUID
) -> WebhookDelivery | None:
    query = select(WebhookDelivery).where(
        WebhookDelivery.id == delivery_id, WebhookDelivery.endpoint_id == endpoint_id
    )
    return await session.scalar(query)


async def find_delivery(session: AsyncSession, delivery_id: UUID) -> WebhookDelivery | None:
    """A delivery by its id alone (whichever endpoint of the brand it belongs to)."""
    return await session.scalar(select(WebhookDelivery).where(WebhookDelivery.id == delivery_id))


async def list_deliveries(
    session: AsyncSession,
    endpoint_id: UUID,
    page: PageRequest,
    status: DeliveryStatus | None = None,
) -> tuple[list[WebhookDelivery], str | None]:
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    return await paginate(session, query, WebhookDelivery.id, page)


async def count_deliveries(
    session: AsyncSession, endpoint_id: UUID, status: DeliveryStatus | None = None
) -> int:
    query = select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    return await count_rows(session, query)


async def list_attempts(
    session: AsyncSession, delivery_id: UUID, page: PageRequest
) -> tuple[list[WebhookAttempt], str | None]:
    query = select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery_id)
    return await paginate(session, query, WebhookAttempt.id, page)


async def count_attempts(session: AsyncSession, delivery_id: UUID) -> int:
    query = select(WebhookAttempt.id).where(WebhookAttempt.delivery_id == delivery_id)
    return await count_rows(session, query)


async def earliest_pending(session: AsyncSession, endpoint_id: UUID) -> WebhookDelivery | None:
    """The delivery the endpoint must receive next: no later one goes before it."""
    query = (
        select(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.status == DeliveryStatus.PENDING,
        )
        .order_by(WebhookDelivery.id)
        .limit(1)
    )
    return await session.scalar(query)


async def take_lease(
    session: AsyncSession, delivery_id: UUID, now: dt.datetime, until: dt.datetime
) -> bool:
    """Compare-and-set the sending lease: True for the one sender that got it."""
    statement = (
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == DeliveryStatus.PENDING,
            or_(WebhookDelivery.sending_until.is_(None), WebhookDelivery.sending_until < now),
        )
        .values(sending_until=until)
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(statement)
    return bool(getattr(result, "rowcount", 0))
