"""Queries of the connectors domain (the session adds the brand to each, except on the hook
routes: a platform table read before any brand scope exists)."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.connectors.models import Connector, HookRoute, InboundDelivery, InboundStatus
from backend.core.pagination import PageRequest, count_rows, paginate


async def list_connectors(
    session: AsyncSession, page: PageRequest
) -> tuple[list[Connector], str | None]:
    return await paginate(session, select(Connector), Connector.id, page)


async def count_connectors(session: AsyncSession) -> int:
    return await count_rows(session, select(Connector.id))


async def get_connector(session: AsyncSession, connector_id: UUID) -> Connector | None:
    return await session.scalar(select(Connector).where(Connector.id == connector_id))


async def get_hook_route(session: AsyncSession, connector_id: UUID) -> HookRoute | None:
    return await session.get(HookRoute, connector_id)


async def list_deliveries(
    session: AsyncSession,
    connector_id: UUID,
    page: PageRequest,
    status: InboundStatus | None = None,
) -> tuple[list[InboundDelivery], str | None]:
    query = select(InboundDelivery).where(InboundDelivery.connector_id == connector_id)
    if status is not None:
        query = query.where(InboundDelivery.status == status)
    return await paginate(session, query, InboundDelivery.id, page)


async def count_deliveries(
    session: AsyncSession, connector_id: UUID, status: InboundStatus | None = None
) -> int:
    query = select(InboundDelivery.id).where(InboundDelivery.connector_id == connector_id)
    if status is not None:
        query = query.where(InboundDelivery.status == status)
    return await count_rows(session, query)


async def get_delivery(
    session: AsyncSession, delivery_id: UUID, connector_id: UUID | None = None
) -> InboundDelivery | None:
    """A delivery by id (of ``connector_id`` when named)."""
    query = select(InboundDelivery).where(InboundDelivery.id == delivery_id)
    if connector_id is not None:
        query = query.where(InboundDelivery.connector_id == connector_id)
    return await session.scalar(query)


async def delivery_id_of(
    session: AsyncSession, connector_id: UUID, external_id: str
) -> UUID | None:
    """The id of the delivery stored under the partner's delivery id."""
    return await session.scalar(
        select(InboundDelivery.id).where(
            InboundDelivery.connector_id == connector_id,
            InboundDelivery.external_id == external_id,
        )
    )
