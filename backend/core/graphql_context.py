"""The GraphQL request context: caller, read session, per-request dataloaders, write transactions.

Queries read through the request's session. Each mutation runs in a transaction of its own
(:meth:`GraphQLContext.transaction`), committed when it succeeds and rolled back when it fails, so
one failed mutation in a document never half-writes nor undoes the others.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Generic, TypeVar

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.dataloader import DataLoader
from strawberry.litestar import BaseContext

from backend.core.caller import CallerLike
from backend.core.db import unit_of_work
from backend.core.errors import Unauthenticated
from backend.core.jobs import actor_of
from backend.core.live import DEFAULT_POLL_SECONDS
from backend.core.outbox import OutboxRelay
from backend.core.tenancy import TenantId

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
C = TypeVar("C", bound=CallerLike)


class GraphQLContext(BaseContext, Generic[C], kw_only=True):
    """The context of one GraphQL request, for callers of type ``C`` (the application binds
    ``backend.auth.caller.Caller``: ``backend.auth.context.GraphQLContext``)."""

    caller: C | None
    session: AsyncSession
    session_factory: async_sessionmaker[AsyncSession]
    relay: OutboxRelay
    tenant: TenantId | None = None  # from the `Levier-Brand` header, checked by the guard
    loaders: dict[str, DataLoader[Any, Any]] = {}  # msgspec copies mutable defaults per struct
    read_lock: asyncio.Lock = msgspec.field(default_factory=asyncio.Lock)
    # A websocket: the `connection_init` payload, when its token expires, and how to resolve
    # the token again (None once it is expired or revoked) for work that outlives a request.
    connection_params: dict[str, Any] | None = None
    authorized_until: dt.datetime | None = None
    reauthorize: Callable[[], Awaitable[C | None]] | None = None
    # How often a subscription reads the state it follows.
    poll_seconds: float = DEFAULT_POLL_SECONDS

    def require_caller(self, scope: str | None = None) -> C:
        """The caller, whose token must carry ``scope`` when one is named (403 otherwise)."""
        if self.caller is None:
            raise Unauthenticated()
        self.caller.require_scope(scope)
        return self.caller

    async def current_caller(self) -> C:
        """The caller as their token stands now: on a websocket, resolved again (through the
        process's short cache of tokens), so an expired or revoked token, or a withdrawn role,
        ends what outlives the request; elsewhere the request's caller."""
        if self.reauthorize is not None:
            caller = await self.reauthorize()
            if caller is None:
                raise Unauthenticated("the token expired or was revoked")
            self.caller = caller
        return self.require_caller()

    def loader(
        self, name: str, load: Callable[[Sequence[K]], Awaitable[Sequence[V]]]
    ) -> DataLoader[K, V]:
        """The request's dataloader named ``name`` (created on first use, never shared)."""
        existing = self.loaders.get(name)
        if existing is None:
            existing = DataLoader(load_fn=load)
            self.loaders[name] = existing
        return existing

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """The request's read session, for one resolver at a time.

        Sibling fields resolve concurrently, and a session must never be used concurrently.
        """
        async with self.read_lock:
            yield self.session

    @asynccontextmanager
    async def transaction(self, tenant: TenantId | None = None) -> AsyncIterator[AsyncSession]:
        async with unit_of_work(
            self.session_factory, self.relay.wake, tenant, actor=actor_of(self.caller)
        ) as session:
            yield session
