"""Route guards: who may call, and on which brand or agency. They run before the body is read.

They are coroutines: a plain function would be run in a worker thread on every request."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from backend.auth.caller import Caller
from backend.auth.scopes import SCOPE_OPT
from backend.core.access import Access
from backend.core.errors import Unauthenticated
from backend.core.logging import bind_log_context

BRAND_ACCESS_OPT = "brand_access"
AGENCY_ACCESS_OPT = "agency_access"
_READ_METHODS = {"GET", "HEAD", "OPTIONS"}


def caller_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Caller:
    caller = connection.scope.get("user")
    if not isinstance(caller, Caller):
        raise Unauthenticated()
    return caller


def _required(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler, opt: str
) -> Access:
    declared = handler.opt.get(opt)
    if isinstance(declared, Access):
        return declared
    # Reading needs the viewer role; anything else needs a manager unless the route says more.
    return Access.VIEWER if connection.scope.get("method") in _READ_METHODS else Access.MANAGER


def _scope(handler: BaseRouteHandler) -> str | None:
    scope = handler.opt.get(SCOPE_OPT)
    return scope if isinstance(scope, str) else None


async def requires_caller(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Any authenticated caller whose token carries the route's scope."""
    caller_of(connection).require_scope(_scope(handler))


async def brand_guard(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """The caller must hold a role on ``{brand_id}``: 404 otherwise, whatever the request; then
    the route's scope and role (403)."""
    caller = caller_of(connection)
    brand_id: UUID = connection.path_params["brand_id"]
    tenant = caller.require_brand(
        brand_id, _required(connection, handler, BRAND_ACCESS_OPT), _scope(handler)
    )
    connection.state.tenant = tenant
    agency_id = caller.brand_agency.get(brand_id)
    bind_log_context(
        connection.scope, brand_id=str(brand_id), agency_id=str(agency_id) if agency_id else None
    )


async def agency_guard(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """The caller must belong to ``{agency_id}``: 404 otherwise."""
    caller = caller_of(connection)
    agency_id: UUID = connection.path_params["agency_id"]
    caller.require_agency(
        agency_id, _required(connection, handler, AGENCY_ACCESS_OPT), _scope(handler)
    )
    bind_log_context(connection.scope, agency_id=str(agency_id))
