"""Queries of the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit.models import AuditEvent
from backend.audit.schemas import AuditFilters
from backend.core.pagination import PageRequest, paginate


async def list_events(
    session: AsyncSession,
    agency_id: UUID,
    brand_ids: Sequence[UUID],
    filters: AuditFilters,
    page: PageRequest,
) -> tuple[list[AuditEvent], str | None]:
    """Events of the agency itself and of its brands, oldest first."""
    query = select(AuditEvent).where(
        or_(AuditEvent.agency_id == agency_id, AuditEvent.brand_id.in_(brand_ids))
    )
    if filters.brand_id is not None:
        query = query.where(AuditEvent.brand_id == filters.brand_id)
    if filters.actor is not None:
        query = query.where(AuditEvent.actor == filters.actor)
    if filters.object_type is not None:
        query = query.where(AuditEvent.object_type == filters.object_type)
    if filters.action is not None:
        query = query.where(AuditEvent.action == filters.action.value)
    if filters.since is not None:
        query = query.where(AuditEvent.occurred_at >= filters.since)
    if filters.until is not None:
        query = query.where(AuditEvent.occurred_at < filters.until)
    return await paginate(session, query, AuditEvent.id, page)
