"""GraphQL of the audit log: an agency's events as a connection, filtered as REST filters them."""

from __future__ import annotations

import datetime as dt

import strawberry

from backend.audit import service
from backend.audit.schemas import AuditAction, AuditEventOut, AuditFilters
from backend.core.access import Access
from backend.core.graphql_entities import entity_type, graphql_enum
from backend.core.graphql_fields import AgencyUnit, agency_query
from backend.core.graphql_results import parse_id
from backend.core.relay import Connection

graphql_enum(AuditAction)


@entity_type(AuditEventOut, name="AuditEvent")
class AuditEventType:
    """One write: who (user, client, task, operator) changed what, where, when."""


@strawberry.type
class AuditQuery:
    @agency_query("audit:read", access=Access.ADMIN)
    async def audit_events(
        self,
        unit: AgencyUnit,
        first: int = 50,
        after: str | None = None,
        brand_id: strawberry.ID | None = None,
        actor: str | None = None,
        object_type: str | None = None,
        action: AuditAction | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> Connection[AuditEventType]:
        """Who changed what, in the agency and its brands, oldest first: every write made
        through the API, GraphQL, background tasks or the CLI (owners and admins). `actor` is
        `user:<id>`, `client:<id>`, `task:<name>` or `operator:cli`; `objectType` a table, e.g.
        `brands`; `since` is inclusive, `until` exclusive."""
        filters = AuditFilters(
            parse_id(brand_id, "Brand") if brand_id is not None else None,
            actor,
            object_type,
            action,
            since,
            until,
        )
        page = unit.page(first, after)
        items, cursor = await service.list_events(
            unit.session, unit.caller, unit.agency_id, filters, page
        )
        return unit.connection(AuditEventOut.many(items), cursor, page)
