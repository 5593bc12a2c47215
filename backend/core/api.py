"""The REST edge every brand route shares: one base controller and the documented errors.

A controller under ``/v1/brands/{brand_id}`` inherits :class:`BrandController`: the brand guard
(404 for a brand out of reach, then 403 for a role or scope that falls short), the ``tenant``
dependency, and the problem responses a route declares with ``READ_ERRORS``/``WRITE_ERRORS``.
Every 422 has one shape (``errors: [{field, pointer, message}]``), answered app-wide.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.handlers.base import BaseRouteHandler

from backend.core.access import Access
from backend.core.caller import CallerLike
from backend.core.dependencies import provide_tenant
from backend.core.errors import Unauthenticated, problem_responses
from backend.core.logging import bind_log_context
from backend.core.write_gates import brand_write_gates

SCOPE_OPT = "scope"  # the OAuth scope a route needs (set by `backend.auth.scopes.needs`)
BRAND_ACCESS_OPT = "brand_access"  # the role a brand route needs, when not the default
_READ_METHODS = {"GET", "HEAD", "OPTIONS"}

READ_ERRORS = problem_responses(401, 403, 404, 422)
# A write may also answer 402: billing holds a brand's writes when its subscription was canceled.
WRITE_ERRORS = problem_responses(401, 402, 403, 404, 409, 422)
# Routes naming a profile answer 308 to the survivor when it was merged.
PROFILE_READ_ERRORS = {**READ_ERRORS, **problem_responses(308)}
PROFILE_WRITE_ERRORS = {**WRITE_ERRORS, **problem_responses(308)}


def required_access(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler, opt: str
) -> Access:
    """The role a route declares under ``opt``; by default reading needs a viewer and
    anything else a manager."""
    declared = handler.opt.get(opt)
    if isinstance(declared, Access):
        return declared
    return Access.VIEWER if connection.scope.get("method") in _READ_METHODS else Access.MANAGER


def route_scope(handler: BaseRouteHandler) -> str | None:
    scope = handler.opt.get(SCOPE_OPT)
    return scope if isinstance(scope, str) else None


async def brand_guard(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """The caller must hold a role on ``{brand_id}``: 404 otherwise, whatever the request; then
    the route's scope and role (403). A coroutine: a plain function would run in a thread."""
    caller = connection.scope.get("user")
    if not isinstance(caller, CallerLike):
        raise Unauthenticated()
    brand_id: UUID = connection.path_params["brand_id"]
    scope = route_scope(handler)
    tenant = caller.require_brand(
        brand_id, required_access(connection, handler, BRAND_ACCESS_OPT), scope
    )
    connection.state.tenant = tenant
    if connection.scope.get("method") not in _READ_METHODS:
        # A domain may hold the brand's writes (billing: a canceled subscription, read-only).
        await brand_write_gates.check(connection.app.state.session_factory, tenant, scope)
    agency_id = caller.brand_agency.get(brand_id)
    bind_log_context(
        connection.scope, brand_id=str(brand_id), agency_id=str(agency_id) if agency_id else None
    )


class BrandController(Controller):
    """Routes of one brand: guarded, with the brand as the ``tenant`` dependency."""

    guards = [brand_guard]
    dependencies = {"tenant": Provide(provide_tenant, sync_to_thread=False)}
