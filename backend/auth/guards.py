"""Route guards: who may call, and on which brand or agency. They run before the body is read.

They are coroutines: a plain function would be run in a worker thread on every request."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from backend.auth.caller import Caller
from backend.core.api import required_access, route_scope
from backend.core.errors import Unauthenticated
from backend.core.logging import bind_log_context

AGENCY_ACCESS_OPT = "agency_access"


def caller_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Caller:
    caller = connection.scope.get("user")
    if not isinstance(caller, Caller):
        raise Unauthenticated()
    return caller


async def requires_caller(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Any authenticated caller whose token carries the route's scope."""
    caller_of(connection).require_scope(route_scope(handler))


async def agency_guard(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """The caller must belong to ``{agency_id}``: 404 otherwise."""
    caller = caller_of(connection)
    agency_id: UUID = connection.path_params["agency_id"]
    caller.require_agency(
        agency_id, required_access(connection, handler, AGENCY_ACCESS_OPT), route_scope(handler)
    )
    bind_log_context(connection.scope, agency_id=str(agency_id))
