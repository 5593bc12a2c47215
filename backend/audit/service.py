"""Reading the audit log (writing it is automatic: see ``recorder``)."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import repository
from backend.audit.models import AuditEvent
from backend.audit.schemas import AuditFilters
from backend.core.access import Access
from backend.core.caller import CallerLike
from backend.core.errors import InvalidInput
from backend.core.pagination import PageRequest
from backend.tenancy import service as tenancy_service


async def list_events(
    session: AsyncSession,
    caller: CallerLike,
    agency_id: UUID,
    filters: AuditFilters,
    page: PageRequest,
) -> tuple[list[AuditEvent], str | None]:
    """The agency's audit log, for its owners and admins."""
    caller.require_agency(agency_id, Access.ADMIN)
    if filters.since and filters.until and filters.since >= filters.until:
        raise InvalidInput("since must be before until", errors=[{"field": "since"}])
    brand_ids = await tenancy_service.brand_ids_of_agency(session, agency_id)
    return await repository.list_events(session, agency_id, brand_ids, filters, page)
