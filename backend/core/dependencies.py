"""Request-scoped dependencies: the database session (committed here) and paging parameters."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated

from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from litestar.types import Scope
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.db import unit_of_work
from backend.core.jobs import actor_of
from backend.core.pagination import MAX_LIMIT, PageRequest
from backend.core.tenancy import TenantId


async def provide_session(scope: Scope, state: State) -> AsyncGenerator[AsyncSession, None]:
    """One session per request, scoped to the brand the guard admitted (if any).

    Committed after the handler and before the response is sent, so a failed commit answers an
    error, never a 2xx; rolled back if the handler raised.
    """
    request_state = scope.get("state", {})
    async with unit_of_work(
        state.session_factory,
        state.relay.wake,
        request_state.get("tenant"),
        actor=actor_of(scope.get("user")),
        request_id=request_state.get("request_id"),
    ) as session:
        yield session


def provide_tenant(scope: Scope) -> TenantId:
    tenant: TenantId = scope["state"]["tenant"]
    return tenant


def provide_page(
    limit: Annotated[
        int | None, QueryParameter(ge=1, le=MAX_LIMIT, description="Items per page (1-200).")
    ] = None,
    cursor: Annotated[
        str | None, QueryParameter(description="The `nextCursor` of the previous page.")
    ] = None,
) -> PageRequest:
    return PageRequest.parse(limit, cursor)


# Handler parameter types: injected by name (`db_session`, `page`, `tenant`).
DbSession = NamedDependency[AsyncSession]
Paging = NamedDependency[PageRequest]
Tenant = NamedDependency[TenantId]
