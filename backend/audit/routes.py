"""REST routes of the audit log."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, get
from litestar.params import FromPath, QueryParameter

from backend.audit import service
from backend.audit.schemas import AuditAction, AuditEventOut, AuditEventPage, AuditFilters
from backend.auth.guards import AGENCY_ACCESS_OPT, agency_guard, caller_of
from backend.auth.scopes import needs
from backend.core.access import Access
from backend.core.dependencies import DbSession, Paging
from backend.core.errors import problem_responses


class AuditController(Controller):
    path = "/v1/agencies/{agency_id:uuid}/audit-events"
    tags = ["audit"]
    guards = [agency_guard]
    opt = {AGENCY_ACCESS_OPT: Access.ADMIN}

    @get(
        "/",
        operation_id="listAuditEvents",
        **needs("audit:read"),
        summary="Read an agency's audit log",
        responses=problem_responses(401, 403, 404, 422),
    )
    async def list_events(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        agency_id: FromPath[UUID],
        page: Paging,
        brand_id: Annotated[
            UUID | None, QueryParameter(name="brandId", description="Only this brand's events.")
        ] = None,
        actor: Annotated[
            str | None,
            QueryParameter(
                description="`user:<id>`, `client:<id>`, `task:<name>` or `operator:cli`."
            ),
        ] = None,
        object_type: Annotated[
            str | None, QueryParameter(name="objectType", description="A table, e.g. `brands`.")
        ] = None,
        action: Annotated[AuditAction | None, QueryParameter()] = None,
        since: Annotated[dt.datetime | None, QueryParameter(description="Inclusive.")] = None,
        until: Annotated[dt.datetime | None, QueryParameter(description="Exclusive.")] = None,
    ) -> AuditEventPage:
        """Who changed what, in the agency and its brands, oldest first: every write made
        through the API, GraphQL, background tasks or the CLI. Owners and admins only."""
        filters = AuditFilters(brand_id, actor, object_type, action, since, until)
        items, cursor = await service.list_events(
            db_session, caller_of(request), agency_id, filters, page
        )
        return AuditEventPage(AuditEventOut.many(items), cursor)
