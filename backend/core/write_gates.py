"""Brand write gates: a domain may refuse the writes of a brand for a while (billing makes a
brand whose subscription was canceled read-only).

The REST brand guard (:mod:`backend.core.api`) and GraphQL brand mutations
(:mod:`backend.core.graphql_fields`) ask every installed gate before a write runs, after the
caller's reach, role and scope were checked. A gate raises a ``LevierError`` to refuse; it is
given the route's scope and decides itself which writes stay allowed (a write that only reads,
such as an export, declares a ``:read`` scope). Gates are installed once per process by
``backend.wiring.connect_domains``, as signal receivers are.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.core.tenancy import TenantId

BrandWriteGate = Callable[[async_sessionmaker[AsyncSession], TenantId, str | None], Awaitable[None]]


class BrandWriteGates:
    def __init__(self) -> None:
        self._gates: list[BrandWriteGate] = []

    def install(self, gate: BrandWriteGate) -> None:
        if gate not in self._gates:
            self._gates.append(gate)

    async def check(
        self, factory: async_sessionmaker[AsyncSession], tenant: TenantId, scope: str | None
    ) -> None:
        """Raise the first gate's refusal of a write to ``tenant`` under ``scope``."""
        for gate in self._gates:
            await gate(factory, tenant, scope)


# The process's gates, installed by `backend.wiring.connect_domains`.
brand_write_gates = BrandWriteGates()
