"""Request-scoped dependencies: the database session (committed here) and paging parameters."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from litestar import Request
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.jobs import take_outbox_flag
from backend.core.pagination import MAX_LIMIT, PageRequest
from backend.core.tenancy import TenantId, open_session


async def provide_session(request: Request[Any, Any, Any]) -> AsyncGenerator[AsyncSession, None]:
    """One session per request, scoped to the brand the guard admitted (if any).

    Committed after the handler and before the response is sent, so a failed commit answers an
    error, never a 2xx; rolled back if the handler raised.
    """
    state = request.app.state
    tenant: TenantId | None = request.scope.get("state", {}).get("tenant")
    session = open_session(state.session_factory, tenant)
    try:
        yield session
        await session.commit()
    except BaseException:
        await session.rollback()
        raise
    finally:
        await session.close()
    if take_outbox_flag(session):
        state.relay.wake()


def provide_tenant(request: Request[Any, Any, Any]) -> TenantId:
    tenant: TenantId = request.scope["state"]["tenant"]
    return tenant


def provide_page(
    limit: int | None = Parameter(
        query="limit", default=None, ge=1, le=MAX_LIMIT, description="Items per page (1-200)."
    ),
    cursor: str | None = Parameter(
        query="cursor", default=None, description="The `nextCursor` of the previous page."
    ),
) -> PageRequest:
    return PageRequest.parse(limit, cursor)
